package restore

import (
	"fmt"
	"slices"
	"strings"

	"cloud.google.com/go/gkebackup/apiv1/gkebackuppb"

	"github.com/gkedr/gkedr/internal/config"
)

// ConfigFor turns a standby's restore settings (the DESIGN §4 defaults plus the policy's overrides)
// into the API's RestoreConfig. Enum names the API does not know become UNSPECIFIED, which the API
// rejects; policy validation refuses them long before.
func ConfigFor(sb config.Standby) *gkebackuppb.RestoreConfig {
	eff := sb.EffectiveRestore()
	cfg := &gkebackuppb.RestoreConfig{
		NamespacedResourceRestoreMode: gkebackuppb.RestoreConfig_NamespacedResourceRestoreMode(
			gkebackuppb.RestoreConfig_NamespacedResourceRestoreMode_value[eff.NamespacedResourceRestoreMode]),
		ClusterResourceConflictPolicy: gkebackuppb.RestoreConfig_ClusterResourceConflictPolicy(
			gkebackuppb.RestoreConfig_ClusterResourceConflictPolicy_value[eff.ClusterResourceConflictPolicy]),
		VolumeDataRestorePolicy: gkebackuppb.RestoreConfig_VolumeDataRestorePolicy(
			gkebackuppb.RestoreConfig_VolumeDataRestorePolicy_value[eff.VolumeDataRestorePolicy]),
	}
	switch {
	case len(eff.SelectedNamespaces) > 0:
		cfg.NamespacedResourceRestoreScope = &gkebackuppb.RestoreConfig_SelectedNamespaces{
			SelectedNamespaces: &gkebackuppb.Namespaces{Namespaces: slices.Clone(eff.SelectedNamespaces)}}
	case len(eff.ExcludedNamespaces) > 0:
		cfg.NamespacedResourceRestoreScope = &gkebackuppb.RestoreConfig_ExcludedNamespaces{
			ExcludedNamespaces: &gkebackuppb.Namespaces{Namespaces: slices.Clone(eff.ExcludedNamespaces)}}
	default:
		cfg.NamespacedResourceRestoreScope = &gkebackuppb.RestoreConfig_AllNamespaces{AllNamespaces: true}
	}
	scope := &gkebackuppb.RestoreConfig_ClusterResourceRestoreScope{}
	if eff.ClusterResourceScope == nil || len(*eff.ClusterResourceScope) == 0 {
		// Note that an explicit "no kinds" is sent rather than an absent scope: both mean the same to
		// the API, but the explicit form shows in the Console that nothing was forgotten.
		scope.NoGroupKinds = true
	} else {
		for _, s := range *eff.ClusterResourceScope {
			// An entry that does not parse is left out; policy validation refuses it at load.
			if gk, err := config.ParseGroupKind(s); err == nil {
				scope.SelectedGroupKinds = append(scope.SelectedGroupKinds, &gkebackuppb.RestoreConfig_GroupKind{ResourceGroup: gk.Group, ResourceKind: gk.Kind})
			}
		}
	}
	cfg.ClusterResourceRestoreScope = scope
	return cfg
}

// Drift compares an existing RestorePlan's config with what the policy wants for the standby, one
// human-readable line per difference ("restoreConfig.volumeDataRestorePolicy: plan has X, policy
// wants Y"). It is empty when they agree. Lists are compared as sets, and equivalent spellings (an
// absent cluster scope and noGroupKinds) agree. VerifyRestore reuses it for a WARN finding.
func Drift(plan *gkebackuppb.RestorePlan, sb config.Standby) []string {
	got, want := plan.GetRestoreConfig(), ConfigFor(sb)
	var lines []string
	diff := func(field, g, w string) {
		if g != w {
			lines = append(lines, fmt.Sprintf("restoreConfig.%s: plan has %s, policy wants %s", field, g, w))
		}
	}
	diff("namespacedResourceRestoreMode", got.GetNamespacedResourceRestoreMode().String(), want.GetNamespacedResourceRestoreMode().String())
	diff("namespacedResourceRestoreScope", describeNamespaces(got), describeNamespaces(want))
	diff("clusterResourceRestoreScope", describeClusterScope(got.GetClusterResourceRestoreScope()), describeClusterScope(want.GetClusterResourceRestoreScope()))
	diff("clusterResourceConflictPolicy", got.GetClusterResourceConflictPolicy().String(), want.GetClusterResourceConflictPolicy().String())
	diff("volumeDataRestorePolicy", got.GetVolumeDataRestorePolicy().String(), want.GetVolumeDataRestorePolicy().String())
	// The policy cannot express these; any on the plan changes what is restored, so it is drift.
	diff("substitutionRules", count(len(got.GetSubstitutionRules()), "rule"), "none")
	diff("transformationRules", count(len(got.GetTransformationRules()), "rule"), "none")
	diff("volumeDataRestorePolicyBindings", count(len(got.GetVolumeDataRestorePolicyBindings()), "binding"), "none")
	diff("restoreOrder", count(len(got.GetRestoreOrder().GetGroupKindDependencies()), "dependency"), "none")
	return lines
}

// describeNamespaces renders the namespaced scope oneof, with sorted lists.
func describeNamespaces(cfg *gkebackuppb.RestoreConfig) string {
	switch {
	case cfg.GetAllNamespaces():
		return "allNamespaces"
	case cfg.GetNoNamespaces():
		return "noNamespaces"
	case cfg.GetSelectedNamespaces() != nil:
		return "selectedNamespaces " + sortedList(cfg.GetSelectedNamespaces().GetNamespaces())
	case cfg.GetExcludedNamespaces() != nil:
		return "excludedNamespaces " + sortedList(cfg.GetExcludedNamespaces().GetNamespaces())
	case cfg.GetSelectedApplications() != nil:
		var apps []string
		for _, a := range cfg.GetSelectedApplications().GetNamespacedNames() {
			apps = append(apps, a.GetNamespace()+"/"+a.GetName())
		}
		return "selectedApplications " + sortedList(apps)
	default:
		return "no scope"
	}
}

// describeClusterScope renders the cluster-scoped kinds as "group/Kind" sets.
func describeClusterScope(s *gkebackuppb.RestoreConfig_ClusterResourceRestoreScope) string {
	gks := func(l []*gkebackuppb.RestoreConfig_GroupKind) []string {
		out := make([]string, 0, len(l))
		for _, gk := range l {
			out = append(out, gk.GetResourceGroup()+"/"+gk.GetResourceKind())
		}
		return out
	}
	switch {
	case s.GetAllGroupKinds():
		return "all group kinds"
	case len(s.GetSelectedGroupKinds()) > 0:
		return "selectedGroupKinds " + sortedList(gks(s.GetSelectedGroupKinds()))
	case len(s.GetExcludedGroupKinds()) > 0:
		return "excludedGroupKinds " + sortedList(gks(s.GetExcludedGroupKinds()))
	default:
		// Absent, noGroupKinds, or empty lists: the API restores no cluster-scoped resource.
		return "no group kinds"
	}
}

func sortedList(l []string) string {
	l = slices.Clone(l)
	slices.Sort(l)
	return "[" + strings.Join(l, " ") + "]"
}

func count(n int, noun string) string {
	switch n {
	case 0:
		return "none"
	case 1:
		return "1 " + noun
	default:
		if strings.HasSuffix(noun, "y") {
			return fmt.Sprintf("%d %sies", n, strings.TrimSuffix(noun, "y"))
		}
		return fmt.Sprintf("%d %ss", n, noun)
	}
}
