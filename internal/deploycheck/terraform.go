package deploycheck

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclparse"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"
)

// ErrNotStatic is wrapped by errors about an expression that the checks cannot evaluate without
// Terraform (a resource attribute, a function other than merge): the Terraform must keep the
// checked names in literals or locals.
var ErrNotStatic = errors.New("expression is not static")

// Module is the parsed Terraform of one directory (one Terraform module).
type Module struct {
	// Dir is the directory the files came from, for messages.
	Dir string
	// Files maps each .tf file's name to its body.
	Files map[string]*hclsyntax.Body
	// locals maps each local value's name to its definition, across all files.
	locals map[string]*hclsyntax.Attribute
}

// Block is one block of a module with the file it is in.
type Block struct {
	// File is the name of the .tf file, for messages.
	File string
	*hclsyntax.Block
}

// Where returns "file:line" of the block, for messages.
func (b Block) Where() string {
	return fmt.Sprintf("%s:%d", b.File, b.DefRange().Start.Line)
}

// Name returns the block's labels joined with dots, e.g. google_pubsub_topic.requests.
func (b Block) Name() string { return strings.Join(b.Labels, ".") }

// LoadModule parses every .tf file of dir. A syntax error in any file is an error.
func LoadModule(dir string) (*Module, error) {
	paths, err := filepath.Glob(filepath.Join(dir, "*.tf"))
	if err != nil {
		return nil, fmt.Errorf("list terraform files in %s: %w", dir, err)
	}
	if len(paths) == 0 {
		return nil, fmt.Errorf("load module %s: no .tf files", dir)
	}
	files := make(map[string][]byte, len(paths))
	for _, p := range paths {
		src, err := os.ReadFile(p)
		if err != nil {
			return nil, fmt.Errorf("load module %s: %w", dir, err)
		}
		files[filepath.Base(p)] = src
	}
	return ParseModule(dir, files)
}

// ParseModule parses in-memory .tf sources, keyed by file name, as the module in dir.
func ParseModule(dir string, files map[string][]byte) (*Module, error) {
	p := hclparse.NewParser()
	m := &Module{Dir: dir, Files: make(map[string]*hclsyntax.Body, len(files)), locals: map[string]*hclsyntax.Attribute{}}
	var diags hcl.Diagnostics
	for _, name := range sortedKeys(files) {
		f, d := p.ParseHCL(files[name], filepath.Join(dir, name))
		diags = append(diags, d...)
		if f == nil {
			continue
		}
		body, ok := f.Body.(*hclsyntax.Body)
		if !ok {
			return nil, fmt.Errorf("parse %s: not native HCL syntax", name)
		}
		m.Files[name] = body
		for _, b := range body.Blocks {
			if b.Type != "locals" {
				continue
			}
			for n, a := range b.Body.Attributes {
				if _, dup := m.locals[n]; dup {
					diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "duplicate local " + n, Subject: a.SrcRange.Ptr()})
				}
				m.locals[n] = a
			}
		}
	}
	if diags.HasErrors() {
		return nil, fmt.Errorf("parse terraform in %s: %w", dir, diags)
	}
	return m, nil
}

// Blocks returns the top-level blocks of the given type whose first labels equal labels, e.g.
// Blocks("resource", "google_pubsub_topic"), in file order.
func (m *Module) Blocks(typ string, labels ...string) []Block {
	var out []Block
	for _, name := range sortedKeys(m.Files) {
		for _, b := range m.Files[name].Blocks {
			if b.Type == typ && len(b.Labels) >= len(labels) && slices.Equal(b.Labels[:len(labels)], labels) {
				out = append(out, Block{File: name, Block: b})
			}
		}
	}
	return out
}

// Resources returns the resource blocks of one type.
func (m *Module) Resources(typ string) []Block { return m.Blocks("resource", typ) }

// nested returns the blocks of type typ directly inside body, including the content of
// `dynamic "typ"` blocks, which Terraform expands into blocks of that type.
func nested(body *hclsyntax.Body, typ string) []*hclsyntax.Body {
	var out []*hclsyntax.Body
	for _, b := range body.Blocks {
		switch {
		case b.Type == typ:
			out = append(out, b.Body)
		case b.Type == "dynamic" && len(b.Labels) == 1 && b.Labels[0] == typ:
			for _, c := range b.Body.Blocks {
				if c.Type == "content" {
					out = append(out, c.Body)
				}
			}
		}
	}
	return out
}

// literal returns the value of a string expression that needs no evaluation context (a quoted
// string without interpolation), and false for anything else.
func literal(e hclsyntax.Expression) (string, bool) {
	v, diags := e.Value(nil)
	if diags.HasErrors() || !v.IsKnown() || v.IsNull() || v.Type() != cty.String {
		return "", false
	}
	return v.AsString(), true
}

// attrLiteral returns the literal string value of body's attribute name.
func attrLiteral(body *hclsyntax.Body, name string) (string, bool) {
	a, ok := body.Attributes[name]
	if !ok {
		return "", false
	}
	return literal(a.Expr)
}

// objectKeys returns the keys an object expression can have: the keys of an object constructor,
// followed through local values, merge(), conditionals and filtering for-expressions. It is how the
// checks read a map that Terraform assembles, such as a function's environment.
func (m *Module) objectKeys(e hclsyntax.Expression) ([]string, error) {
	return m.objectKeysDepth(e, 0)
}

func (m *Module) objectKeysDepth(e hclsyntax.Expression, depth int) ([]string, error) {
	// Note that a local referring to itself is a Terraform error; the bound only keeps a broken
	// input from recursing forever here.
	if depth > 16 {
		return nil, fmt.Errorf("%w: locals nested too deeply at %s", ErrNotStatic, e.Range())
	}
	switch e := e.(type) {
	case *hclsyntax.ObjectConsExpr:
		var keys []string
		for _, item := range e.Items {
			k, diags := item.KeyExpr.Value(nil)
			if diags.HasErrors() || k.Type() != cty.String {
				return nil, fmt.Errorf("%w: object key at %s", ErrNotStatic, item.KeyExpr.Range())
			}
			keys = append(keys, k.AsString())
		}
		return keys, nil
	case *hclsyntax.ScopeTraversalExpr:
		if len(e.Traversal) == 2 && e.Traversal.RootName() == "local" {
			if attr, ok := e.Traversal[1].(hcl.TraverseAttr); ok {
				def, ok := m.locals[attr.Name]
				if !ok {
					return nil, fmt.Errorf("local.%s is not defined (at %s)", attr.Name, e.Range())
				}
				return m.objectKeysDepth(def.Expr, depth+1)
			}
		}
	case *hclsyntax.ForExpr:
		// { for k, v in X : k => v if … } keeps (some of) X's keys.
		if e.KeyExpr != nil {
			if kv, ok := e.KeyExpr.(*hclsyntax.ScopeTraversalExpr); ok && kv.Traversal.RootName() == e.KeyVar && len(kv.Traversal) == 1 {
				return m.objectKeysDepth(e.CollExpr, depth+1)
			}
		}
	case *hclsyntax.FunctionCallExpr:
		if e.Name == "merge" {
			var keys []string
			for _, a := range e.Args {
				k, err := m.objectKeysDepth(a, depth+1)
				if err != nil {
					return nil, err
				}
				keys = append(keys, k...)
			}
			return keys, nil
		}
	case *hclsyntax.ConditionalExpr:
		t, err := m.objectKeysDepth(e.TrueResult, depth+1)
		if err != nil {
			return nil, err
		}
		f, err := m.objectKeysDepth(e.FalseResult, depth+1)
		if err != nil {
			return nil, err
		}
		return append(t, f...), nil
	}
	return nil, fmt.Errorf("%w: cannot read the keys of the expression at %s", ErrNotStatic, e.Range())
}

// literalsByKey returns, for every attribute or object item named key anywhere in the module,
// its literal string value, in file order. Non-literal values are skipped.
func (m *Module) literalsByKey(key string) []string {
	var out []string
	m.visit(func(_ string, n hclsyntax.Node) {
		switch n := n.(type) {
		case *hclsyntax.Attribute:
			if n.Name == key {
				if s, ok := literal(n.Expr); ok {
					out = append(out, s)
				}
			}
		case *hclsyntax.ObjectConsExpr:
			for _, item := range n.Items {
				k, diags := item.KeyExpr.Value(nil)
				if diags.HasErrors() || k.Type() != cty.String || k.AsString() != key {
					continue
				}
				if s, ok := literal(item.ValueExpr); ok {
					out = append(out, s)
				}
			}
		}
	})
	return out
}

// visit calls fn for every syntax node of every file, in file order.
func (m *Module) visit(fn func(file string, n hclsyntax.Node)) {
	for _, name := range sortedKeys(m.Files) {
		hclsyntax.VisitAll(m.Files[name], func(n hclsyntax.Node) hcl.Diagnostics {
			fn(name, n)
			return nil
		})
	}
}

// sortedKeys returns the keys of a string-keyed map in order, so that messages are stable.
func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
