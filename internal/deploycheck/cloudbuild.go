package deploycheck

import (
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"

	"cloud.google.com/go/cloudbuild/apiv1/v2/cloudbuildpb"
	"google.golang.org/protobuf/encoding/protojson"
	"sigs.k8s.io/yaml"
)

// LoadCloudBuild decodes a Cloud Build config (YAML) into the API's Build message, strictly: an
// unknown field, a malformed duration or an unknown enum value is an error, as it would be when the
// build is submitted.
func LoadCloudBuild(data []byte) (*cloudbuildpb.Build, error) {
	j, err := yaml.YAMLToJSON(data)
	if err != nil {
		return nil, fmt.Errorf("read cloud build config as YAML: %w", err)
	}
	var b cloudbuildpb.Build
	if err := (protojson.UnmarshalOptions{DiscardUnknown: false}).Unmarshal(j, &b); err != nil {
		return nil, fmt.Errorf("decode cloud build config: %w", err)
	}
	return &b, nil
}

// userSubstitutionRE finds uses of user substitutions ($_NAME or ${_NAME}); a doubled $$ escapes.
var userSubstitutionRE = regexp.MustCompile(`(\$*)\$\{?(_[A-Z0-9_]+)`)

// CheckCloudBuild checks what the schema does not: every step has a unique id and a pinned image
// (a tag other than latest, or a digest), waitFor names earlier steps, every user substitution
// used is declared and every one of required is, and the build sets a timeout and a logging mode.
func CheckCloudBuild(b *cloudbuildpb.Build, required []string) error {
	var errs []error
	if b.GetTimeout() == nil {
		errs = append(errs, errors.New("set timeout: the default (10 minutes) is shorter than a deployment"))
	}
	if b.GetOptions().GetLogging() == cloudbuildpb.BuildOptions_LOGGING_UNSPECIFIED {
		errs = append(errs, errors.New("set options.logging explicitly (e.g. CLOUD_LOGGING_ONLY)"))
	}
	for _, name := range required {
		if _, ok := b.GetSubstitutions()[name]; !ok {
			errs = append(errs, fmt.Errorf("substitution %s is not declared (with its default) under substitutions", name))
		}
	}
	if len(b.GetSteps()) == 0 {
		errs = append(errs, errors.New("no steps"))
	}
	for _, t := range b.GetOptions().GetEnv() {
		errs = append(errs, undeclaredSubstitutions(b, "options.env", t)...)
	}
	var ids []string
	for i, s := range b.GetSteps() {
		where := fmt.Sprintf("step %d (%s)", i, s.GetId())
		switch {
		case s.GetId() == "":
			errs = append(errs, fmt.Errorf("step %d (%s): set an explicit id, so waitFor and the logs can name it", i, s.GetName()))
		case slices.Contains(ids, s.GetId()):
			errs = append(errs, fmt.Errorf("%s: id is used twice", where))
		}
		if err := pinnedImage(s.GetName()); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", where, err))
		}
		for _, w := range s.GetWaitFor() {
			if w != "-" && !slices.Contains(ids, w) {
				errs = append(errs, fmt.Errorf("%s: waitFor %q is not an earlier step's id", where, w))
			}
		}
		ids = append(ids, s.GetId())
		texts := append([]string{s.GetName(), s.GetEntrypoint(), s.GetDir(), s.GetScript()}, s.GetArgs()...)
		texts = append(texts, s.GetEnv()...)
		for _, t := range texts {
			errs = append(errs, undeclaredSubstitutions(b, where, t)...)
		}
	}
	return errors.Join(errs...)
}

// undeclaredSubstitutions returns an error for each user substitution used in text that the build
// does not declare. Cloud Build rejects such a build when it is submitted.
func undeclaredSubstitutions(b *cloudbuildpb.Build, where, text string) []error {
	var errs []error
	for _, m := range userSubstitutionRE.FindAllStringSubmatch(text, -1) {
		// "$$" is a literal dollar: with an odd number of dollars before the final one, that one is
		// escaped and the name is a shell variable.
		if len(m[1])%2 == 1 {
			continue
		}
		if _, ok := b.GetSubstitutions()[m[2]]; !ok {
			errs = append(errs, fmt.Errorf("%s: substitution %s is used but not declared: declare it under substitutions, or write $$ for a shell variable", where, m[2]))
		}
	}
	return errs
}

// pinnedImage checks that a step image names a tag other than latest, or a digest.
func pinnedImage(image string) error {
	if strings.Contains(image, "@sha256:") {
		return nil
	}
	last := image[strings.LastIndex(image, "/")+1:]
	_, tag, ok := strings.Cut(last, ":")
	switch {
	case image == "":
		return errors.New("no image (name)")
	case !ok || tag == "":
		return fmt.Errorf("image %q has no tag: pin an exact version", image)
	case tag == "latest" || strings.Contains(tag, "$"):
		return fmt.Errorf("image %q is not pinned: use an exact version tag or a digest", image)
	}
	return nil
}
