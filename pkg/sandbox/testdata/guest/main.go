// Command guest is the program the sandbox tests run inside a root: each
// mode tries one thing a hostile initramfs generator might, and prints
// "STEP ok" or "STEP denied: ERR" per attempt so the test can assert.
package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

func step(name string, err error) {
	if err != nil {
		fmt.Printf("%s denied: %v\n", name, err)
		return
	}
	fmt.Printf("%s ok\n", name)
}

func main() {
	// Installed as a generator (update-initramfs, dracut, mkinitrd), it
	// takes its mode from /guest-mode and logs to /guest.log: that is how
	// tests run it through prepagent fix.
	switch filepath.Base(os.Args[0]) {
	case "update-initramfs", "dracut", "mkinitrd":
		if m, err := os.ReadFile("/guest-mode"); err == nil {
			if f, err := os.Create("/guest.log"); err == nil {
				os.Stdout = f
			}
			os.Args = append(os.Args[:1], strings.Fields(string(m))...)
		}
	}
	if len(os.Args) < 2 {
		os.Exit(2)
	}
	switch os.Args[1] {
	case "info":
		// Identity, capabilities and environment as the tool sees them.
		fmt.Printf("pid %d\n", os.Getpid())
		h, _ := os.Hostname()
		fmt.Printf("hostname %s\n", h)
		st, _ := os.ReadFile("/proc/self/status")
		for _, l := range strings.Split(string(st), "\n") {
			if strings.HasPrefix(l, "Cap") || strings.HasPrefix(l, "NoNewPrivs") {
				fmt.Println(strings.ReplaceAll(l, "\t", " "))
			}
		}
		for _, e := range os.Environ() {
			fmt.Printf("env %s\n", e)
		}
		ents, _ := os.ReadDir("/dev")
		for _, e := range ents {
			fmt.Printf("dev %s\n", e.Name())
		}
		in, _ := os.ReadFile("/dev/stdin")
		fmt.Printf("stdin %q\n", in)
		ps, _ := os.ReadDir("/proc")
		n := 0
		for _, e := range ps {
			if _, err := strconv.Atoi(e.Name()); err == nil {
				n++
			}
		}
		fmt.Printf("procs %d\n", n)
		os.Exit(7)
	case "escape":
		// args: host marker path, host file to read, device major:minor.
		marker, secret, dev := os.Args[2], os.Args[3], os.Args[4]
		fd, err := syscall.Open("/", syscall.O_RDONLY|syscall.O_DIRECTORY, 0)
		step("open-root", err)
		_ = os.Mkdir("/x", 0o755)
		step("chroot-x", syscall.Chroot("/x"))
		step("fchdir", syscall.Fchdir(fd))
		for i := 0; i < 64; i++ {
			_ = syscall.Chdir("..")
		}
		step("chroot-dot", syscall.Chroot("."))
		step("write-marker", os.WriteFile(marker, []byte("escaped\n"), 0o644))
		_, err = os.ReadFile("/proc/1/root" + secret)
		step("read-proc1-root", err)
		_, err = os.ReadFile(secret)
		step("read-secret", err)
		var maj, min int
		fmt.Sscanf(dev, "%d:%d", &maj, &min)
		err = syscall.Mknod("/blk", syscall.S_IFBLK|0o600, maj<<8|min)
		step("mknod-blk", err)
		if err == nil {
			f, err := os.Open("/blk")
			step("open-blk", err)
			if err == nil {
				f.Close()
			}
		}
		err = syscall.Mknod("/dev/blk", syscall.S_IFBLK|0o600, maj<<8|min)
		step("mknod-dev-blk", err)
		step("mount-tmpfs", syscall.Mount("tmpfs", "/mnt", "tmpfs", 0, ""))
		step("mount-proc", syscall.Mount("proc", "/mnt", "proc", 0, ""))
		f, err := os.OpenFile("/proc/sys/kernel/core_pattern", os.O_WRONLY, 0)
		step("open-core-pattern", err)
		if err == nil {
			f.Close()
		}
		f, err = os.OpenFile("/proc/sysrq-trigger", os.O_WRONLY, 0)
		step("open-sysrq", err)
		if err == nil {
			f.Close()
		}
		f, err = os.OpenFile("/proc/sys/vm/drop_caches", os.O_WRONLY, 0)
		step("open-drop-caches", err)
		if err == nil {
			f.Close()
		}
		sysw := "/sys/kernel/uevent_helper"
		if m, _ := filepath.Glob("/sys/block/*/uevent"); len(m) > 0 {
			sysw = m[0] // writable by root on a read-write sysfs
		}
		f, err = os.OpenFile(sysw, os.O_WRONLY, 0)
		step("open-sys-write", err)
		if err == nil {
			f.Close()
		}
		step("setns-net", syscall.Unshare(syscall.CLONE_NEWNS))
	case "sleep":
		// args: file to create once the children run ("-": none), a
		// token the test finds the processes by.
		for i := 0; i < 2; i++ {
			c := exec.Command("/proc/self/exe", "child-sleep", os.Args[3])
			_ = c.Start()
		}
		if os.Args[2] != "-" {
			_ = os.WriteFile(os.Args[2], []byte("running\n"), 0o644)
		}
		time.Sleep(time.Hour)
	case "child-sleep":
		time.Sleep(time.Hour)
	case "write":
		step("write", os.WriteFile(os.Args[2], []byte(os.Args[3]), 0o644))
	}
}
