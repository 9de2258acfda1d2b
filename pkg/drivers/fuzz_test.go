package drivers

import (
	"bytes"
	"testing"
)

// FuzzParsers feeds the same bytes to every text parser of the package:
// none may panic, and what they return must be consistent.
func FuzzParsers(f *testing.F) {
	f.Add([]byte("menuentry 'x' {\n\tlinux /vmlinuz-6.1.0-9-amd64 ro\n\tinitrd /amd-ucode.img /initrd.img-6.1.0-9-amd64\n}\n"))
	f.Add([]byte("title x\nversion 5.14.0-362.el9.x86_64\nlinux /vmlinuz-5.14.0-362.el9.x86_64\ninitrd /initramfs-5.14.0-362.el9.x86_64.img $tuned_initrd\n"))
	f.Add([]byte("kernel/drivers/net/virtio_net.ko: kernel/drivers/net/net_failover.ko kernel/net/core/failover.ko\n"))
	f.Add([]byte("blacklist virtio-net\ninstall xen_blkfront /bin/true\n# blacklist virtio_blk\n"))
	f.Add([]byte("CONFIG_VIRTIO=y\n# CONFIG_XEN_BLKDEV_FRONTEND is not set\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, be := range ParseGrubCfg(data) {
			if be.Version == "" {
				t.Fatalf("ParseGrubCfg returned an entry without a version: %+v", be)
			}
		}
		if be, ok := ParseBLS(data); ok && be.Version == "" {
			t.Fatalf("ParseBLS ok without a version: %+v", be)
		}
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
