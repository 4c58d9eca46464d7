package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/p-kernel/p-kernel/host/api"
	"github.com/p-kernel/p-kernel/pfs/cid"
)

// progressMin is the transfer size from which progress is shown.
const progressMin = 8 << 20

func cmdFS(ctx context.Context, args []string, io IO) error {
	if len(args) == 0 {
		return errors.New("want a subcommand: put, get, cat, ls, log, rm, stat, repair, gc")
	}
	sub, args := args[0], args[1:]
	fs, data := flags("fs "+sub, io)
	ns := fs.String("ns", "", "namespace (default "+api.DefaultNamespace+")")
	version := 0
	if sub == "get" || sub == "cat" {
		fs.IntVar(&version, "version", 0, "version number from `fs log` (1 = oldest, -1 = newest)")
	}
	quiet := fs.Bool("quiet", false, "no progress")
	switch sub {
	case "put":
		pos, c, err := connect(fs, data, args, -1, "")
		if err != nil {
			return err
		}
		if len(pos) < 1 || len(pos) > 2 {
			return errors.New("usage: fs put FILE [NAME] (FILE - reads standard input; NAME is then required)")
		}
		return fsPut(ctx, c, *ns, pos, !*quiet, io)
	case "get", "cat":
		pos, c, err := connect(fs, data, args, -1, "")
		if err != nil {
			return err
		}
		if len(pos) < 1 || len(pos) > 2 || (sub == "cat" && len(pos) != 1) {
			return fmt.Errorf("usage: fs %s NAME|ID%s", sub, map[bool]string{true: " [OUT]"}[sub == "get"])
		}
		ref := api.FSRef{Namespace: *ns, Name: pos[0], Version: version}
		if _, err := cid.Parse(pos[0]); err == nil && len(pos[0]) == 2*cid.Size {
			ref = api.FSRef{ID: pos[0]}
		}
		if sub == "cat" {
			return c.FSGet(ctx, ref, io.Out, nil)
		}
		out := filepath.Base(pos[0])
		if len(pos) == 2 {
			out = pos[1]
		}
		return fsGet(ctx, c, ref, out, !*quiet, io)
	case "ls", "list":
		pos, c, err := connect(fs, data, args, -1, "")
		if err != nil {
			return err
		}
		if len(pos) > 1 {
			return errors.New("usage: fs ls [PREFIX]")
		}
		prefix := ""
		if len(pos) == 1 {
			prefix = pos[0]
		}
		vs, err := c.FSList(ctx, *ns, prefix)
		if err != nil {
			return err
		}
		tw := tabwriter.NewWriter(io.Out, 2, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "NAME\tSIZE\tWRITTEN\tNODE\tID")
		for _, v := range vs {
			fmt.Fprintf(tw, "%s\t%d\t%s\t%.12s\t%.12s\n", v.Name, v.Size, stamp(v.Time), v.Node, v.ID)
		}
		return tw.Flush()
	case "log":
		pos, c, err := connect(fs, data, args, 1, "usage: fs log NAME")
		if err != nil {
			return err
		}
		vs, err := c.FSLog(ctx, *ns, pos[0])
		if err != nil {
			return err
		}
		tw := tabwriter.NewWriter(io.Out, 2, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "VERSION\tWRITTEN\tNODE\tSIZE\tID")
		for i, v := range vs {
			id := v.ID
			if v.Removed {
				id = "(removed)"
			}
			fmt.Fprintf(tw, "%d\t%s\t%.12s\t%d\t%s\n", i+1, stamp(v.Time), v.Node, v.Size, id)
		}
		return tw.Flush()
	case "stat":
		pos, c, err := connect(fs, data, args, -1, "")
		if err != nil {
			return err
		}
		if len(pos) > 1 {
			return errors.New("usage: fs stat [NAME|ID]")
		}
		var ref *api.FSRef
		if len(pos) == 1 {
			ref = &api.FSRef{Namespace: *ns, Name: pos[0]}
			if _, err := cid.Parse(pos[0]); err == nil {
				ref = &api.FSRef{ID: pos[0]}
			}
		}
		st, err := c.FSStat(ctx, ref)
		if err != nil {
			return err
		}
		printFSStat(io.Out, st)
		return nil
	case "repair":
		deep := fs.Bool("deep", false, "read and verify every block, not just ask whether it is there")
		if _, c, err := connect(fs, data, args, 0, "usage: fs repair [--deep]"); err != nil {
			return err
		} else {
			rep, err := c.FSRepair(ctx, *deep)
			if err != nil {
				return err
			}
			fmt.Fprintf(io.Out, "checked %d chunks and %d objects (%d blocks): %d missing, %d corrupt; %d copied, %d rebuilt, %d failed; %s moved\n",
				rep.Chunks, rep.Objects, rep.Blocks, rep.Missing, rep.Corrupt, rep.Copied, rep.Rebuilt, rep.Failed, mib(rep.BytesMoved))
			for _, e := range rep.Errors {
				fmt.Fprintln(io.Err, "  ", e)
			}
			if rep.Failed > 0 {
				return fmt.Errorf("%d blocks could not be restored", rep.Failed)
			}
			return nil
		}
	case "gc":
		keepLast := fs.Int("keep-last", 0, "keep only the newest N versions of each name (0: every version)")
		keepFor := fs.String("keep-for", "", "keep versions newer than this (e.g. 720h); the current version always stays")
		all := fs.Bool("all-nodes", false, "sweep every live node's store, not only this node's")
		_, c, err := connect(fs, data, args, 0, "usage: fs gc [--keep-last N] [--keep-for D] [--all-nodes]")
		if err != nil {
			return err
		}
		rep, err := c.FSGC(ctx, *keepLast, *keepFor, *all)
		if err != nil {
			return err
		}
		fmt.Fprintf(io.Out, "kept %d versions (%d expired); %d blocks referenced, %d scanned: %d deleted, %d misplaced copies deleted, %d deferred (grace period); %s freed\n",
			rep.Versions, rep.Expired, rep.Marked, rep.Scanned, rep.Deleted, rep.Misplaced, rep.Deferred, mib(rep.BytesFreed))
		return nil
	case "rm", "remove":
		pos, c, err := connect(fs, data, args, 1, "usage: fs rm NAME")
		if err != nil {
			return err
		}
		v, err := c.FSRemove(ctx, *ns, pos[0])
		if err != nil {
			return err
		}
		fmt.Fprintf(io.Out, "removed %s (its history stays: pkhost fs log %s)\n", v.Name, v.Name)
		return nil
	}
	return fmt.Errorf("unknown fs subcommand %q", sub)
}

func printFSStat(w io.Writer, st *api.FSStat) {
	fmt.Fprintf(w, "%d files (%d versions) in %d namespaces\n", st.Files, st.Versions, st.Namespaces)
	tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NODE\tBLOCKS\tSTORED")
	for n, u := range st.Nodes {
		fmt.Fprintf(tw, "%s\t%d\t%s\n", n, u.Blocks, mib(u.Bytes))
	}
	for n, e := range st.NodeErrors {
		fmt.Fprintf(tw, "%s\t-\t%s\n", n, e)
	}
	tw.Flush()
	if f := st.File; f != nil {
		state := "readable"
		if !f.Readable {
			state = "NOT READABLE: some chunk lacks blocks"
		}
		fmt.Fprintf(w, "%s (%s, %d bytes): %d chunks; %d of %d blocks good, %d on their placed node; %s\n",
			f.Version.Name, f.Version.ID, f.Version.Size, f.Chunks, f.Good, f.Expected, f.Placed, state)
	}
}

func stamp(ns int64) string { return time.Unix(0, ns).UTC().Format("2006-01-02 15:04:05.000") }

func fsPut(ctx context.Context, c *api.Client, ns string, pos []string, showProgress bool, std IO) error {
	var r io.Reader
	size := int64(-1)
	name := ""
	if pos[0] == "-" {
		if len(pos) != 2 {
			return errors.New("fs put - NAME: a name is needed for standard input")
		}
		r = std.In
	} else {
		f, err := os.Open(pos[0])
		if err != nil {
			return err
		}
		defer f.Close()
		st, err := f.Stat()
		if err != nil {
			return err
		}
		if st.IsDir() {
			return fmt.Errorf("%s is a directory", pos[0])
		}
		r, size, name = f, st.Size(), filepath.Base(pos[0])
	}
	if len(pos) == 2 {
		name = pos[1]
	}
	p := newProgress(std.Err, "put "+name, size, showProgress)
	defer p.stop()
	v, err := c.FSPut(ctx, ns, name, p.reader(r), size)
	if err != nil {
		return err
	}
	p.stop()
	fmt.Fprintf(std.Out, "%s\t%d bytes\t%s\n", v.Name, v.Size, v.ID)
	return nil
}

// fsGet writes the file to a temporary file beside out and renames it into
// place only once every byte arrived verified.
func fsGet(ctx context.Context, c *api.Client, ref api.FSRef, out string, showProgress bool, std IO) error {
	tmp, err := os.CreateTemp(filepath.Dir(out), "."+filepath.Base(out)+".part-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	var p *progress
	cw := &countWriter{w: tmp}
	err = c.FSGet(ctx, ref, cw, func(id string, size int64) {
		p = newProgress(std.Err, "get "+filepath.Base(out), size, showProgress)
		cw.p = p
	})
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if p != nil {
		p.stop()
	}
	if err != nil {
		return err
	}
	return os.Rename(tmp.Name(), out)
}

// progress prints a transfer's progress to w once a second, for transfers of
// progressMin bytes or more (or of unknown size).
type progress struct {
	mu       sync.Mutex
	w        io.Writer
	what     string
	size     int64
	done     int64
	start    time.Time
	stopped  chan struct{}
	stopOnce sync.Once
}

func newProgress(w io.Writer, what string, size int64, show bool) *progress {
	p := &progress{w: w, what: what, size: size, start: time.Now(), stopped: make(chan struct{})}
	if !show || (size >= 0 && size < progressMin) {
		close(p.stopped)
		p.stopOnce.Do(func() {})
		return p
	}
	go func() {
		t := time.NewTicker(time.Second)
		defer t.Stop()
		for {
			select {
			case <-p.stopped:
				return
			case <-t.C:
				p.print()
			}
		}
	}()
	return p
}

func (p *progress) add(n int64) {
	p.mu.Lock()
	p.done += n
	p.mu.Unlock()
}

func (p *progress) print() {
	p.mu.Lock()
	defer p.mu.Unlock()
	rate := float64(p.done) / time.Since(p.start).Seconds() / (1 << 20)
	if p.size > 0 {
		fmt.Fprintf(p.w, "%s: %s of %s (%d%%), %.1f MiB/s\n", p.what, mib(p.done), mib(p.size), p.done*100/p.size, rate)
	} else {
		fmt.Fprintf(p.w, "%s: %s, %.1f MiB/s\n", p.what, mib(p.done), rate)
	}
}

func (p *progress) stop() {
	p.stopOnce.Do(func() {
		close(p.stopped)
		p.print()
	})
}

func mib(n int64) string { return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20)) }

func (p *progress) reader(r io.Reader) io.Reader { return progressReader{r, p} }

type progressReader struct {
	r io.Reader
	p *progress
}

func (pr progressReader) Read(b []byte) (int, error) {
	n, err := pr.r.Read(b)
	pr.p.add(int64(n))
	return n, err
}

type countWriter struct {
	w io.Writer
	p *progress
}

func (c *countWriter) Write(b []byte) (int, error) {
	n, err := c.w.Write(b)
	if c.p != nil {
		c.p.add(int64(n))
	}
	return n, err
}
