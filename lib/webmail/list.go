package webmail

import (
	"errors"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"

	"mailctl/lib/mailview"
)

// Folder names webmail files mail into (created when missing).
const (
	folderSent   = "Sent"
	folderDrafts = "Drafts"
	folderTrash  = "Trash"
	folderJunk   = "Junk"
)

type folderInfo struct {
	Name   string
	Unseen uint32
	Total  uint32
}

type msgRow struct {
	UID        imap.UID
	From       string
	Subject    string
	Date       time.Time
	Size       int64
	Seen       bool
	Flagged    bool
	Answered   bool
	Attachment bool
}

type listData struct {
	Rows       []msgRow
	Page       int
	Pages      int
	Total      int
	Query      string
	PrevURL    string
	NextURL    string
	IsTrash    bool
	IsJunk     bool
	MoveTarget []string
}

// folders lists every folder with its unread and total counts (LIST-STATUS).
func folders(c *imapclient.Client) ([]folderInfo, error) {
	data, err := c.List("", "*", &imap.ListOptions{
		ReturnStatus: &imap.StatusOptions{NumMessages: true, NumUnseen: true},
	}).Collect()
	if err != nil {
		return nil, err
	}
	var out []folderInfo
	for _, d := range data {
		if slices.Contains(d.Attrs, imap.MailboxAttrNoSelect) {
			continue
		}
		f := folderInfo{Name: d.Mailbox}
		if d.Status != nil {
			if d.Status.NumUnseen != nil {
				f.Unseen = *d.Status.NumUnseen
			}
			if d.Status.NumMessages != nil {
				f.Total = *d.Status.NumMessages
			}
		}
		out = append(out, f)
	}
	slices.SortFunc(out, func(a, b folderInfo) int { return folderRank(a.Name) - folderRank(b.Name) })
	return out, nil
}

func folderRank(n string) int {
	switch n {
	case "INBOX":
		return 0
	case folderDrafts:
		return 1
	case folderSent:
		return 2
	case folderJunk:
		return 3
	case folderTrash:
		return 4
	}
	return 5
}

// ensureFolder creates a special folder if it is missing.
func ensureFolder(c *imapclient.Client, name string) {
	c.Create(name, nil).Wait() // an ALREADYEXISTS refusal is fine
}

var listFetch = &imap.FetchOptions{UID: true, Flags: true, Envelope: true, InternalDate: true, RFC822Size: true, BodyStructure: &imap.FetchItemBodyStructure{Extended: true}}

func (s *Server) list(w http.ResponseWriter, r *http.Request, sess *session) {
	folder := folderParam(r)
	q := strings.TrimSpace(r.URL.Query().Get("q"))
	pageNo, _ := strconv.Atoi(r.URL.Query().Get("page"))
	pageNo = max(pageNo, 1)
	size := s.opts.PageSize
	var fs []folderInfo
	var rows []msgRow
	var total int
	err := s.withIMAP(r.Context(), sess, func(c *imapclient.Client) error {
		var err error
		if fs, err = folders(c); err != nil {
			return err
		}
		sel, err := c.Select(folder, &imap.SelectOptions{ReadOnly: true}).Wait()
		if err != nil {
			return err
		}
		var msgs []*imapclient.FetchMessageBuffer
		if q == "" {
			// Newest first by sequence number, which follows UID order:
			// only this page's range is fetched.
			total = int(sel.NumMessages)
			hi := total - (pageNo-1)*size
			if hi < 1 {
				return nil
			}
			lo := max(1, hi-size+1)
			msgs, err = c.Fetch(seqRange(uint32(lo), uint32(hi)), listFetch).Collect()
		} else {
			crit := &imap.SearchCriteria{Or: [][2]imap.SearchCriteria{{
				{Header: []imap.SearchCriteriaHeaderField{{Key: "From", Value: q}}},
				{Or: [][2]imap.SearchCriteria{{
					{Header: []imap.SearchCriteriaHeaderField{{Key: "Subject", Value: q}}},
					{Body: []string{q}},
				}}},
			}}}
			sd, err := c.UIDSearch(crit, nil).Wait()
			if err != nil {
				return err
			}
			uids := sd.AllUIDs()
			slices.Sort(uids)
			slices.Reverse(uids)
			total = len(uids)
			start := (pageNo - 1) * size
			if start >= len(uids) {
				return nil
			}
			msgs, err = c.Fetch(imap.UIDSetNum(uids[start:min(len(uids), start+size)]...), listFetch).Collect()
		}
		if err != nil {
			return err
		}
		slices.SortFunc(msgs, func(a, b *imapclient.FetchMessageBuffer) int { return int(b.UID) - int(a.UID) })
		for _, m := range msgs {
			rows = append(rows, rowOf(m))
		}
		return nil
	})
	if err != nil {
		s.imapError(w, r, sess, err)
		return
	}
	pages := max(1, (total+size-1)/size)
	d := listData{Rows: rows, Page: pageNo, Pages: pages, Total: total, Query: q,
		IsTrash: folder == folderTrash, IsJunk: folder == folderJunk}
	base := "/mail?f=" + urlQuery(folder)
	if q != "" {
		base += "&q=" + urlQuery(q)
	}
	if pageNo > 1 {
		d.PrevURL = base + "&page=" + strconv.Itoa(pageNo-1)
	}
	if pageNo < pages {
		d.NextURL = base + "&page=" + strconv.Itoa(pageNo+1)
	}
	for _, f := range fs {
		if f.Name != folder {
			d.MoveTarget = append(d.MoveTarget, f.Name)
		}
	}
	s.render(w, http.StatusOK, "list", page{Title: folder, CSRF: sess.csrf, User: sess.user, Folders: fs, Folder: folder,
		Notice: r.URL.Query().Get("notice"), Data: d})
}

func rowOf(m *imapclient.FetchMessageBuffer) msgRow {
	row := msgRow{UID: m.UID, Size: m.RFC822Size, Date: m.InternalDate}
	if e := m.Envelope; e != nil {
		row.Subject = e.Subject
		if !e.Date.IsZero() {
			row.Date = e.Date
		}
		if len(e.From) > 0 {
			row.From = e.From[0].Name
			if row.From == "" {
				row.From = e.From[0].Addr()
			}
		}
	}
	if row.Subject == "" {
		row.Subject = "(no subject)"
	}
	row.Seen = slices.Contains(m.Flags, imap.FlagSeen)
	row.Flagged = slices.Contains(m.Flags, imap.FlagFlagged)
	row.Answered = slices.Contains(m.Flags, imap.FlagAnswered)
	if m.BodyStructure != nil {
		row.Attachment = mailview.HasAttachment(m.BodyStructure)
	}
	return row
}

func folderParam(r *http.Request) string {
	f := r.FormValue("f")
	if f == "" || strings.EqualFold(f, "INBOX") {
		return "INBOX"
	}
	return f
}

func uidParam(r *http.Request) imap.UID {
	n, _ := strconv.ParseUint(r.FormValue("uid"), 10, 32)
	return imap.UID(n)
}

// imapError shows a failed IMAP operation; a lost session goes to login.
func (s *Server) imapError(w http.ResponseWriter, r *http.Request, sess *session, err error) {
	if errors.Is(err, errLogin) {
		if x := s.sessions.remove(sess.id); x != nil {
			go x.close()
		}
		http.Redirect(w, r, "/login", http.StatusSeeOther)
		return
	}
	msg := "The mail server refused: "
	var ie *imap.Error
	if errors.As(err, &ie) {
		msg += ie.Text
	} else {
		msg = "The mail server is not reachable. Please try again."
		s.log.Warn("webmail imap", "user", sess.user, "err", err)
	}
	s.render(w, http.StatusBadGateway, "folders", page{Title: "Error", CSRF: sess.csrf, User: sess.user, Error: msg})
}
