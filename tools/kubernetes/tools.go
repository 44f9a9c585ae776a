//go:build tools

// Package tools pins the Kubernetes control-plane commands Capstan's tests and dev cluster run.
// Nothing here is compiled into Capstan; `go build` builds each command from this module's go.sum.
package tools

import (
	_ "go.etcd.io/etcd/server/v3"
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
	_ "k8s.io/kubernetes/cmd/kube-controller-manager"
	_ "k8s.io/kubernetes/cmd/kube-scheduler"
	_ "k8s.io/kubernetes/cmd/kubectl"
)
