package web

import (
	"archive/zip"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"

	"jarchive/audit"
	"jarchive/export"
	"jarchive/index"
)

// export writes the messages of a search (auditors) with package export,
// into a temporary directory, and sends that directory as a zip file: the
// messages, manifest.csv and manifest.json, as "jarchive export" writes
// them. The manifest is recorded in the archive's log as for the command.
func (s *Server) export(w http.ResponseWriter, r *http.Request, p *principal) {
	format := r.PostFormValue("format")
	switch format {
	case export.FormatMbox, export.FormatEMLZip, export.FormatMaildir:
	default:
		s.errorPage(w, r, http.StatusBadRequest, fmt.Sprintf("format %q is not one of mbox, eml-zip, maildir", format))
		return
	}
	v := url.Values{"q": {r.PostFormValue("q")}, "as": {r.PostFormValue("as")}, "sort": {"date"}}
	q, err := s.query(p, v)
	if err != nil {
		s.errorPage(w, r, http.StatusBadRequest, err.Error())
		return
	}
	ids, total, err := s.allIDs(r.Context(), q)
	var qe *index.QueryError
	if errors.As(err, &qe) {
		s.errorPage(w, r, http.StatusBadRequest, qe.Error())
		return
	} else if err != nil {
		s.logger.Error("web: export", "err", err)
		s.errorPage(w, r, http.StatusInternalServerError, "the search failed")
		return
	}
	// Beside the archive (its tmp directory, where fetching spools), not
	// in a small /tmp.
	base := filepath.Join(s.cfg().Archive.Dir, "tmp")
	if fi, err := os.Stat(base); err != nil || !fi.IsDir() {
		base = ""
	}
	tmp, err := os.MkdirTemp(base, "web-export-")
	if err != nil {
		s.logger.Error("web: export", "err", err)
		s.errorPage(w, r, http.StatusInternalServerError, "the export failed")
		return
	}
	defer os.RemoveAll(tmp)
	out := filepath.Join(tmp, "export")
	var as []string
	if a := r.PostFormValue("as"); a != "" {
		as = []string{a}
	}
	sum, err := export.Export(r.Context(), s.opts.Archive, ids, out, export.Options{Format: format, Query: q.Text, As: as, By: p.actor() + " (web, " + s.clientIP(r) + ")"})
	if err != nil {
		s.record(r, p, audit.ActionExport, q.Text, audit.Failure, err.Error())
		s.logger.Error("web: export", "err", err)
		s.errorPage(w, r, http.StatusInternalServerError, "the export failed")
		return
	}
	s.record(r, p, audit.ActionExport, q.Text, audit.Success,
		fmt.Sprintf("%d of %d messages, %s, manifest sha256 %s", sum.Count, total, format, sum.ManifestSHA256))
	name := "jarchive-export-" + s.now().UTC().Format("20060102T150405Z") + ".zip"
	w.Header().Set("Content-Type", "application/zip")
	w.Header().Set("Content-Disposition", contentDisposition(name))
	if err := zipDir(w, out, strings.TrimSuffix(name, ".zip")); err != nil {
		s.logger.Warn("web: send export", "err", err)
	}
}

// zipDir writes the files under dir to w as a zip, below the folder
// prefix. Files that are already compressed are stored.
func zipDir(w io.Writer, dir, prefix string) error {
	zw := zip.NewWriter(w)
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, err := filepath.Rel(dir, path)
		if err != nil {
			return err
		}
		method := zip.Deflate
		if strings.HasSuffix(path, ".zip") {
			method = zip.Store
		}
		fw, err := zw.CreateHeader(&zip.FileHeader{Name: prefix + "/" + filepath.ToSlash(rel), Method: method})
		if err != nil {
			return err
		}
		f, err := os.Open(path)
		if err != nil {
			return err
		}
		defer f.Close()
		_, err = io.Copy(fw, f)
		return err
	})
	if cerr := zw.Close(); err == nil {
		err = cerr
	}
	return err
}
