// Command etcd is etcd's own server main, built from its Go module at the version go.mod
// pins: Debian's etcd 3.4 is older than what current Kubernetes expects.
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() {
	etcdmain.Main(os.Args)
}
