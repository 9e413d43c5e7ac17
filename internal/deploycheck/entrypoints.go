package deploycheck

import (
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"strconv"
)

// functionsPkg is the import path of the Functions Framework's registration package.
const functionsPkg = "github.com/GoogleCloudPlatform/functions-framework-go/functions"

// RegisteredEntryPoints returns the names that a Go source file registers with
// functions.CloudEvent("Name", fn), whatever the framework package is imported as (gkedr.go
// aliases it, because the adapters' package is also called functions). A registration whose name
// is not a string literal is an error: the buildpack and Terraform need the name statically.
func RegisteredEntryPoints(filename string, src []byte) ([]string, error) {
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, filename, src, parser.SkipObjectResolution)
	if err != nil {
		return nil, fmt.Errorf("parse %s: %w", filename, err)
	}
	alias := ""
	for _, imp := range f.Imports {
		path, err := strconv.Unquote(imp.Path.Value)
		if err != nil || path != functionsPkg {
			continue
		}
		alias = "functions"
		if imp.Name != nil {
			alias = imp.Name.Name
		}
	}
	if alias == "" || alias == "_" || alias == "." {
		return nil, fmt.Errorf("%s does not import %s by name: gkedr.go registers the entry points through it", filename, functionsPkg)
	}
	var names []string
	var bad error
	ast.Inspect(f, func(n ast.Node) bool {
		call, ok := n.(*ast.CallExpr)
		if !ok {
			return true
		}
		sel, ok := call.Fun.(*ast.SelectorExpr)
		if !ok || sel.Sel.Name != "CloudEvent" {
			return true
		}
		if x, ok := sel.X.(*ast.Ident); !ok || x.Name != alias {
			return true
		}
		if len(call.Args) != 2 {
			bad = fmt.Errorf("%s: %s.CloudEvent takes a name and a function", fset.Position(call.Pos()), alias)
			return true
		}
		lit, ok := call.Args[0].(*ast.BasicLit)
		if !ok || lit.Kind != token.STRING {
			bad = fmt.Errorf("%s: the entry point name must be a string literal", fset.Position(call.Args[0].Pos()))
			return true
		}
		name, err := strconv.Unquote(lit.Value)
		if err != nil {
			bad = fmt.Errorf("%s: unquote entry point name: %w", fset.Position(lit.Pos()), err)
			return true
		}
		names = append(names, name)
		return true
	})
	if bad != nil {
		return nil, bad
	}
	return names, nil
}
