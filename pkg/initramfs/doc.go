// Package initramfs reads Linux initramfs images the way the kernel
// unpacks them, in one streaming pass and constant memory, and decides
// whether an image carries the drivers a cloud guest needs to boot.
//
// An image is a chain: zero or more uncompressed cpio archives (early
// microcode, NUL padding allowed between them), then one compressed
// stream (gzip, zstd, xz, lzma, lz4 legacy frame, bzip2 or lzop) holding
// one or more cpio archives, in the newc (070701) or crc (070702) format.
// Walk visits every member of every archive:
//
//	f, _ := os.Open("/boot/initrd.img-6.1.0-28-amd64")
//	info, err := initramfs.Walk(ctx, f, f.Name(), initramfs.Options{},
//		func(e initramfs.Entry, body io.Reader) error {
//			fmt.Println(e.Path)
//			return nil // or initramfs.ErrStop to end early
//		})
//	// info.Layers: ["cpio", "zstd+cpio"]
//
// Analyze builds on Walk: it finds the kernel version(s), modules.dep,
// modules.builtin and the module files inside the image and tells, for
// each driver of RequiredDrivers, whether it is a module (with all its
// dependencies), built in, or missing; it also lists udev rules inside the
// image that pin MAC addresses. It reads and verifies the whole image
// every time, as the kernel unpacks it all: every compressed stream's
// integrity checks and end, every cpio archive's TRAILER!!!, nothing but
// NUL padding after the chain. An image cut after its modules directory
// is an error, not a verdict.
//
// The package reads only the reader it is given; it writes nothing. With
// Options.Decoders Auto or External it may run the system's decompressor
// binaries (xz, bzip2, ...) found in Options.Path or $PATH, feeding them
// the image on stdin.
//
// Corrupt, truncated or unknown input, and member names with a ".."
// component (ErrUnsafeName), yield a *FormatError naming the file and the
// byte offset; the package never panics on input. Walk and Analyze honour
// ctx between blocks and members, and kill an external decompressor when
// it is cancelled.
package initramfs
