// Package problem formats the one-line description of bad input that every gkedr error about a
// field gives: where it is, what is wrong, and how to fix it.
package problem

import "strings"

// Format returns "where: what; fix", leaving out an empty where or fix.
func Format(where, what, fix string) string {
	var b strings.Builder
	if where != "" {
		b.WriteString(where)
		b.WriteString(": ")
	}
	b.WriteString(what)
	if fix != "" {
		b.WriteString("; ")
		b.WriteString(fix)
	}
	return b.String()
}
