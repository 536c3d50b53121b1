package webmail

import (
	"bytes"
	"errors"
	"fmt"
	"html/template"
	"mime"
	"net/http"
	"slices"
	"strings"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"

	"mailctl/lib/mailview"
)

var errNoMessage = errors.New("webmail: no such message")

// fetchRaw selects folder and returns message uid's whole source and flags.
func fetchRaw(c *imapclient.Client, folder string, uid imap.UID) ([]byte, []imap.Flag, error) {
	if _, err := c.Select(folder, nil).Wait(); err != nil {
		return nil, nil, err
	}
	sec := &imap.FetchItemBodySection{Peek: true}
	msgs, err := c.Fetch(imap.UIDSetNum(uid), &imap.FetchOptions{UID: true, Flags: true, BodySection: []*imap.FetchItemBodySection{sec}}).Collect()
	if err != nil {
		return nil, nil, err
	}
	if len(msgs) == 0 {
		return nil, nil, errNoMessage
	}
	return msgs[0].FindBodySection(sec), msgs[0].Flags, nil
}

// requestedMessage fetches the source of the message the request names
// (its f and uid parameters).
func (s *Server) requestedMessage(r *http.Request, sess *session) ([]byte, error) {
	folder, uid := folderParam(r), uidParam(r)
	var raw []byte
	err := s.withIMAP(r.Context(), sess, func(c *imapclient.Client) (err error) {
		raw, _, err = fetchRaw(c, folder, uid)
		return err
	})
	return raw, err
}

type readData struct {
	Msg        *mailview.Message
	UID        imap.UID
	FrameURL   string
	ImagesURL  string
	Flagged    bool
	IsDraft    bool
	FolderQ    template.URL // already query-escaped: html/template must not escape it again
	MoveTarget []string
}

func (s *Server) read(w http.ResponseWriter, r *http.Request, sess *session) {
	folder, uid := folderParam(r), uidParam(r)
	var raw []byte
	var fs []folderInfo
	var flags []imap.Flag
	err := s.withIMAP(r.Context(), sess, func(c *imapclient.Client) error {
		var err error
		if raw, flags, err = fetchRaw(c, folder, uid); err != nil {
			return err
		}
		if !slices.Contains(flags, imap.FlagSeen) {
			c.Store(imap.UIDSetNum(uid), &imap.StoreFlags{Op: imap.StoreFlagsAdd, Silent: true, Flags: []imap.Flag{imap.FlagSeen}}, nil).Close()
		}
		fs, err = folders(c)
		return err
	})
	if err != nil {
		s.msgError(w, r, sess, err)
		return
	}
	m, err := mailview.Parse(bytes.NewReader(raw), mailview.Options{MaxSize: s.opts.MaxMessageSize})
	if err != nil {
		s.msgError(w, r, sess, err)
		return
	}
	q := fmt.Sprintf("f=%s&uid=%d", urlQuery(folder), uid)
	d := readData{Msg: m, UID: uid, FolderQ: template.URL(q), Flagged: slices.Contains(flags, imap.FlagFlagged), IsDraft: folder == folderDrafts}
	if m.HTML != "" {
		d.FrameURL = "/msg/frame?" + q
		if r.URL.Query().Get("images") == "1" {
			d.FrameURL += "&images=1"
		} else if m.RemoteImagesBlocked {
			d.ImagesURL = "/msg?" + q + "&images=1"
		}
	}
	for _, f := range fs {
		if f.Name != folder {
			d.MoveTarget = append(d.MoveTarget, f.Name)
		}
	}
	s.render(w, http.StatusOK, "read", page{Title: m.Subject, CSRF: sess.csrf, User: sess.user, Folders: fs, Folder: folder, Data: d})
}

// frame serves the message's sanitised HTML for the sandboxed iframe.
func (s *Server) frame(w http.ResponseWriter, r *http.Request, sess *session) {
	raw, err := s.requestedMessage(r, sess)
	if err != nil {
		http.Error(w, "message not available", http.StatusNotFound)
		return
	}
	images := r.URL.Query().Get("images") == "1"
	m, err := mailview.Parse(bytes.NewReader(raw), mailview.Options{MaxSize: s.opts.MaxMessageSize, RemoteImages: images})
	if err != nil {
		http.Error(w, "message not available", http.StatusNotFound)
		return
	}
	h := w.Header()
	h.Set("Content-Security-Policy", frameCSP(images))
	h.Del("X-Frame-Options")
	h.Set("Content-Type", "text/html; charset=utf-8")
	fmt.Fprintf(w, "<!doctype html><html><head><meta charset=\"utf-8\"><style>body{font:15px/1.45 system-ui,sans-serif;margin:.5rem;overflow-wrap:anywhere}img{max-width:100%%;height:auto}</style></head><body>%s</body></html>", template.HTML(m.HTML))
}

// safeInline are the types a browser may show from a download without risk.
var safeTypes = map[string]bool{"image/png": true, "image/jpeg": true, "image/gif": true, "image/webp": true, "application/pdf": true, "text/plain": true}

// part serves one attachment as a download.
func (s *Server) part(w http.ResponseWriter, r *http.Request, sess *session) {
	raw, err := s.requestedMessage(r, sess)
	if err != nil {
		http.Error(w, "message not available", http.StatusNotFound)
		return
	}
	ct, name, body, err := mailview.Part(bytes.NewReader(raw), r.URL.Query().Get("part"))
	if err != nil {
		http.Error(w, "no such part", http.StatusNotFound)
		return
	}
	if !safeTypes[strings.ToLower(ct)] {
		ct = "application/octet-stream"
	}
	if name == "" {
		name = "attachment"
	}
	h := w.Header()
	h.Set("Content-Type", ct)
	h.Set("Content-Disposition", mime.FormatMediaType("attachment", map[string]string{"filename": name}))
	h.Set("Content-Security-Policy", "sandbox; default-src 'none'")
	w.Write(body)
}

// raw serves the message source as plain text.
func (s *Server) raw(w http.ResponseWriter, r *http.Request, sess *session) {
	raw, err := s.requestedMessage(r, sess)
	if err != nil {
		http.Error(w, "message not available", http.StatusNotFound)
		return
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Content-Security-Policy", "sandbox; default-src 'none'")
	w.Write(raw)
}

func (s *Server) msgError(w http.ResponseWriter, r *http.Request, sess *session, err error) {
	if errors.Is(err, errNoMessage) {
		http.Redirect(w, r, "/mail?f="+urlQuery(folderParam(r))+"&notice="+urlQuery("That message is gone."), http.StatusSeeOther)
		return
	}
	s.imapError(w, r, sess, err)
}
