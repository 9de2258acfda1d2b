// Command mkman writes the man pages (internal/manpage) built from docs/
// into a directory, gzip'd: a build step of scripts/package.sh.
package main

import (
	"bytes"
	"compress/gzip"
	"flag"
	"fmt"
	"os"
	"path/filepath"

	"github.com/prepagent/prepagent/internal/manpage"
)

func main() {
	docs := flag.String("docs", "docs", "docs directory")
	options := flag.String("options", "", "the CLI's commands and flags (prepagent gen-docs --options)")
	version := flag.String("version", "dev", "version for the page headers")
	date := flag.String("date", "", "date for the page headers (YYYY-MM-DD)")
	out := flag.String("out", "dist/man", "output directory")
	flag.Parse()
	if err := run(*docs, *options, *version, *date, *out); err != nil {
		fmt.Fprintf(os.Stderr, "mkman: %v\n", err)
		os.Exit(2)
	}
}

func run(docs, options, version, date, out string) error {
	extra := map[string][]byte{}
	if options != "" {
		b, err := os.ReadFile(options)
		if err != nil {
			return err
		}
		extra[manpage.OptionsFile] = b
	}
	if err := os.MkdirAll(out, 0o755); err != nil {
		return err
	}
	for _, p := range manpage.Pages() {
		roff, err := manpage.Render(p, os.DirFS(docs), extra, version, date)
		if err != nil {
			return err
		}
		var gz bytes.Buffer
		// No name or time in the gzip header: reproducible (Debian policy).
		zw, _ := gzip.NewWriterLevel(&gz, gzip.BestCompression)
		zw.Write(manpage.Trim(roff))
		if err := zw.Close(); err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(out, p.FileName()+".gz"), gz.Bytes(), 0o644); err != nil {
			return fmt.Errorf("write %s: %w", p.FileName(), err)
		}
	}
	return nil
}
