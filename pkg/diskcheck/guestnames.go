package diskcheck

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"sync"

	"github.com/prepagent/prepagent/pkg/blockdev"
	"github.com/prepagent/prepagent/pkg/fstab"
)

// Guest kernel names under --root.
//
// A prepared OS names its disks as the machine it was installed on saw
// them (/dev/vda2, /dev/sda2, /dev/xvda1). Under --root (and so under
// `prepagent image`) the host has those filesystems under other names
// (loop0p2), and may have disks of its own by the guest's names: a name
// resolved on the host would point at the wrong disk. What is mounted
// where tells which is which:
//
//   - a name whose mount point is mounted now (the fstab's "/" entry,
//     root= on a kernel command line) means the filesystem mounted there;
//   - that mapping also names the guest's disk: /dev/vdb2 at the root,
//     which is loop0p2 here, says the guest calls loop0 "vdb". A name on
//     that guest disk that is not mounted (swap on /dev/vdb3, resume=) is
//     partition 3 of loop0, when loop0p3 exists and holds the filesystem
//     type the entry says (swap for swap and resume=).
//
// Partition numbers must agree for the disk to be learned: /dev/vdb3 at a
// root mounted from loop0p2 teaches nothing.

// guestPartRe splits a guest kernel partition name into its disk and
// number: vdb2, sda10, xvda1 (letters, then digits), nvme0n1p2 and
// mmcblk0p1 (a "p" before the number).
var guestPartRe = regexp.MustCompile(`^/dev/(?:((?:s|v|xv|h)d[a-z]+)([0-9]+)|(nvme[0-9]+n[0-9]+|mmcblk[0-9]+)p([0-9]+))$`)

// splitGuestPart returns the disk and partition number a guest kernel
// name means ("/dev/vdb2" -> "vdb", 2).
func splitGuestPart(spec string) (string, int, bool) {
	m := guestPartRe.FindStringSubmatch(spec)
	if m == nil {
		return "", 0, false
	}
	disk, num := m[1], m[2]
	if disk == "" {
		disk, num = m[3], m[4]
	}
	n, err := strconv.Atoi(num)
	if err != nil || n < 1 {
		return "", 0, false
	}
	return disk, n, true
}

// hostPart returns the whole disk and partition number of a host
// partition node (loop0p2 -> loop0, 2; vdb3 -> vdb, 3).
func hostPart(n *blockdev.Node) (string, int, bool) {
	if n == nil || n.Kind != blockdev.KindPartition || n.Parent == "" {
		return "", 0, false
	}
	s, ok := strings.CutPrefix(n.Name, n.Parent)
	if !ok {
		return "", 0, false
	}
	num, err := strconv.Atoi(strings.TrimPrefix(s, "p"))
	if err != nil || num < 1 {
		return "", 0, false
	}
	return n.Parent, num, true
}

// partName is the kernel's name for partition num of disk: a disk name
// ending in a digit takes a "p" (loop0p2, nvme0n1p2), others do not (vdb2).
func partName(disk string, num int) string {
	if c := disk[len(disk)-1]; c >= '0' && c <= '9' {
		return disk + "p" + strconv.Itoa(num)
	}
	return disk + strconv.Itoa(num)
}

// guestDisks is what this run learned about the guest's disk names: guest
// name -> host disk, "" when two mappings disagreed. It lives in Sources,
// which the disk checks of one run share, so boot-config still knows
// "vdb is loop0" after the fstab fix has replaced /dev/vdb2 by UUID=.
type guestDisks struct {
	mu sync.Mutex
	m  map[string]string
}

// learn records that the guest name spec is the host partition n, when
// both are partitions with the same number.
func (g *guestDisks) learn(spec string, n *blockdev.Node) {
	gd, gn, ok := splitGuestPart(spec)
	if !ok {
		return
	}
	hd, hn, ok := hostPart(n)
	if !ok || gn != hn {
		return
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.m == nil {
		g.m = map[string]string{}
	}
	if old, seen := g.m[gd]; seen && old != hd {
		hd = "" // two host disks for one guest name: trust neither
	}
	g.m[gd] = hd
}

func (g *guestDisks) host(guest string) string {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.m[guest]
}

// learnFstab learns the guest's disk names from the fstab entries by
// kernel name whose mount points are mounted now.
func (l *Layout) learnFstab(src *Sources) {
	if l.Fstab == nil {
		return
	}
	for _, e := range l.Fstab.Entries() {
		if e.IsSwap() || Classify(e.Spec) != NameKernel {
			continue
		}
		if n, _, ok := l.mountedAt(src, e.File); ok {
			src.guests.learn(e.Spec, n)
		}
	}
}

// byGuestDisk finds the host partition a guest kernel name means through
// the guest disk learned from what is mounted (see the top of this file);
// wantType, when set, is the filesystem type blkid must report there.
// how says what the name was mapped through, or why it was not; it is ""
// only when the guest's disk is not known, the one case where the name
// may still be looked up on the host.
func (l *Layout) byGuestDisk(src *Sources, spec, wantType string) (*blockdev.Node, blockdev.Chain, string, bool) {
	gd, gn, ok := splitGuestPart(spec)
	if !ok {
		return nil, blockdev.Chain{}, "", false
	}
	hd := src.guests.host(gd)
	if hd == "" {
		return nil, blockdev.Chain{}, "", false
	}
	n, err := src.Resolver.ByName(partName(hd, gn))
	if err != nil {
		return nil, blockdev.Chain{}, fmt.Sprintf("the guest's disk %s is %s here, which has no partition %d", gd, hd, gn), false
	}
	if wantType != "" {
		fs, found := fsOf(l, n)
		if !found || fs.Type != wantType {
			got := "no filesystem blkid knows"
			if found && fs.Type != "" {
				got = fs.Type
			}
			return nil, blockdev.Chain{}, fmt.Sprintf("the guest's disk %s is %s here, but %s holds %s, not %s", gd, hd, n.Name, got, wantType), false
		}
	}
	c, err := src.Resolver.WholeDisks(n)
	if err != nil {
		return nil, blockdev.Chain{}, "", false
	}
	return n, c, fmt.Sprintf("the guest's name for %s: partition %d of its disk %s, which is %s here", n.Name, gn, gd, hd), true
}

// fstabType is the filesystem type an fstab entry's device must hold for
// a guest name to be mapped to it: swap, or one plain type; "" (any)
// for auto or a list.
func fstabType(e *fstab.Entry) string {
	if e.IsSwap() {
		return "swap"
	}
	if e.VfsType == "auto" || strings.Contains(e.VfsType, ",") {
		return ""
	}
	return e.VfsType
}

// rootArg maps root=<guest kernel name> to the filesystem mounted at the
// root, when the partition numbers agree (else why says they do not).
func (l *Layout) rootArg(src *Sources, spec string) (*blockdev.Node, blockdev.Chain, string, bool) {
	n, c, ok := l.mountedAt(src, "/")
	if !ok {
		return nil, blockdev.Chain{}, "", false
	}
	_, gn, gok := splitGuestPart(spec)
	_, hn, hok := hostPart(n)
	if gok && hok && gn != hn {
		return nil, blockdev.Chain{}, fmt.Sprintf("it names partition %d, but the root mounted here is partition %d (%s): fix it by hand", gn, hn, n.Name), false
	}
	src.guests.learn(spec, n)
	return n, c, fmt.Sprintf("the guest's name for %s, the filesystem at the root here", n.Name), true
}
