//go:build tools

// Package tools records the kube-apiserver command as a dependency of this module, so that go.sum
// pins everything `go build k8s.io/kubernetes/cmd/kube-apiserver` needs. Note that the build tag
// keeps the package out of every normal build: nothing here is meant to be compiled.
package tools

import _ "k8s.io/kubernetes/cmd/kube-apiserver"
