// Command libsize prints where the bytes of a shared library built from Go go: the size of
// each section of the stripped file, then, from an unstripped build of the same library, the
// bytes of code and data per Go package (largest first), and optionally fails when the
// stripped file is larger than a budget.
//
//	go run ./tests/lib/libsize -stripped build/liblkcore.so -unstripped /tmp/lk-unstripped.so [-top 40] [-max-bytes N]
//
// Per-package figures count the symbols of .text, .rodata, .data and .noptrdata attributed
// by name (package path up to the first dot after the last slash, generic arguments removed);
// type descriptors and other symbols the linker aggregates land under "(other)". The function
// tables (.gopclntab, roughly proportional to code) and the dynamic relocations are not
// symbols: the section list shows them.
package main

import (
	"debug/elf"
	"flag"
	"fmt"
	"os"
	"sort"
	"strings"
)

func main() {
	stripped := flag.String("stripped", "", "the stripped library (its file size is the figure)")
	unstripped := flag.String("unstripped", "", "the same library built without -s -w (for the per-package table)")
	top := flag.Int("top", 40, "packages to list")
	maxBytes := flag.Int64("max-bytes", 0, "fail when the stripped file is larger (0: no check)")
	flag.Parse()
	if *stripped == "" {
		fmt.Fprintln(os.Stderr, "libsize: -stripped is required")
		os.Exit(2)
	}
	size, err := sections(*stripped)
	if err != nil {
		fmt.Fprintln(os.Stderr, "libsize:", err)
		os.Exit(1)
	}
	if *unstripped != "" {
		if err := packages(*unstripped, *top); err != nil {
			fmt.Fprintln(os.Stderr, "libsize:", err)
			os.Exit(1)
		}
	}
	fmt.Printf("stripped %s: %d bytes (%.2f MB, %.2f MiB)\n", *stripped, size, float64(size)/1e6, float64(size)/(1<<20))
	if *maxBytes > 0 && size > *maxBytes {
		fmt.Fprintf(os.Stderr, "libsize: %s is %d bytes, more than the budget of %d\n", *stripped, size, *maxBytes)
		os.Exit(1)
	}
}

// sections prints the file's sections that occupy room in it, largest first, and returns
// the file size.
func sections(path string) (int64, error) {
	st, err := os.Stat(path)
	if err != nil {
		return 0, err
	}
	f, err := elf.Open(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	secs := make([]*elf.Section, 0, len(f.Sections))
	for _, s := range f.Sections {
		if s.Type != elf.SHT_NOBITS && s.Size > 0 {
			secs = append(secs, s)
		}
	}
	sort.Slice(secs, func(i, j int) bool { return secs[i].Size > secs[j].Size })
	fmt.Printf("%-20s %12s\n", "section", "bytes")
	for _, s := range secs {
		if s.Size >= 4096 {
			fmt.Printf("%-20s %12d\n", s.Name, s.Size)
		}
	}
	return st.Size(), nil
}

// packages prints code and data bytes per Go package of an unstripped library.
func packages(path string, top int) error {
	f, err := elf.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	syms, err := f.Symbols()
	if err != nil {
		return fmt.Errorf("%s: %w (build it without -s -w)", path, err)
	}
	type agg struct{ text, data uint64 }
	per := map[string]*agg{}
	for _, s := range syms {
		if int(s.Section) <= 0 || int(s.Section) >= len(f.Sections) || s.Size == 0 {
			continue
		}
		sec := f.Sections[s.Section]
		if sec.Type == elf.SHT_NOBITS {
			continue
		}
		p := pkgOf(s.Name)
		a := per[p]
		if a == nil {
			a = &agg{}
			per[p] = a
		}
		if sec.Flags&elf.SHF_EXECINSTR != 0 {
			a.text += s.Size
		} else {
			a.data += s.Size
		}
	}
	names := make([]string, 0, len(per))
	var totText, totData uint64
	for p, a := range per {
		names = append(names, p)
		totText += a.text
		totData += a.data
	}
	sort.Slice(names, func(i, j int) bool {
		a, b := per[names[i]], per[names[j]]
		return a.text+a.data > b.text+b.data
	})
	fmt.Printf("\n%-60s %10s %10s\n", "package (unstripped symbols)", "code", "data")
	for i, p := range names {
		if i == top {
			break
		}
		fmt.Printf("%-60s %10d %10d\n", p, per[p].text, per[p].data)
	}
	fmt.Printf("%-60s %10d %10d\n\n", fmt.Sprintf("all %d packages", len(names)), totText, totData)
	return nil
}

// pkgOf is the Go package a symbol name belongs to.
func pkgOf(name string) string {
	n := name
	for _, p := range []string{"type:.eq.", "type:.hash.", "type:", "go:itab.", "go:info.", "go:string.", "go:func.", "go:type."} {
		if strings.HasPrefix(n, p) {
			n = n[len(p):]
			break
		}
	}
	// Generic instantiations: drop the (nested) type arguments.
	for {
		i := strings.LastIndex(n, "[")
		if i < 0 {
			break
		}
		j := strings.Index(n[i:], "]")
		if j < 0 {
			break
		}
		n = n[:i] + n[i+j+1:]
	}
	n = strings.TrimLeft(n, "*(")
	slash := strings.LastIndex(n, "/")
	if dot := strings.Index(n[slash+1:], "."); dot >= 0 {
		n = n[:slash+1+dot]
	}
	if n == "" || strings.HasPrefix(n, "go:") {
		return "(other)"
	}
	return n
}
