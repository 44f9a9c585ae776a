//go:build tools

// Package tools pins the Kubernetes node commands (kubelet, kube-proxy) Capstan's real-node tests run.
// A module of its own, apart from tools/kubernetes, so adding the node does not change the control
// plane's cache key. Nothing here is compiled into Capstan; `go build` builds each command from this
// module's go.sum.
package tools

import (
	_ "k8s.io/kubernetes/cmd/kube-proxy"
	_ "k8s.io/kubernetes/cmd/kubelet"
)
