package drivers

import (
	"bytes"
	"testing"
)

// FuzzParsers feeds the same bytes to every text parser of the package:
// none may panic, and what they return must be consistent.
func FuzzParsers(f *testing.F) {
	f.Add([]byte("kernel/drivers/net/virtio_net.ko: kernel/drivers/net/net_failover.ko kernel/net/core/failover.ko\n"))
	f.Add([]byte("blacklist virtio-net\ninstall xen_blkfront /bin/true\n# blacklist virtio_blk\n"))
	f.Add([]byte("CONFIG_VIRTIO=y\n# CONFIG_XEN_BLKDEV_FRONTEND is not set\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, b := range ParseBlacklists("/etc/modprobe.d/x.conf", data) {
			if b.Line < 1 || !pvDriver(b.Module) {
				t.Fatalf("ParseBlacklists: bad entry %+v", b)
			}
		}
		db := newModDB()
		if err := db.ParseModulesDep(bytes.NewReader(data), "modules.dep"); err == nil {
			for n := range db.Deps {
				_ = db.Closure(n)
			}
		}
		db.ParseConfig(data)
		_ = db.ParseBuiltin(data, "modules.builtin")
		_, _ = parseKernelVersion(string(data))
		_ = disableBlacklists(data, map[int]bool{1: true, 3: true})
	})
}
