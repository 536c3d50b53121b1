package webmail

import (
	"bytes"
	"errors"
	"io"
	"net/http"
	"net/mail"
	"strings"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"

	"mailctl/lib/compose"
	"mailctl/lib/mailview"
)

// composeState keeps a compose form's attachments (uploads, a forward's
// originals, a resumed draft's files) and its draft's UID between requests.
type composeState struct {
	files    []compose.File
	draftUID imap.UID
}

type composeForm struct {
	ID                         string
	To, Cc, Bcc, Subject, Body string
	InReplyTo                  string
	References                 string
	Files                      []compose.File
}

func addrList(as []*mail.Address) string {
	var out []string
	for _, a := range as {
		out = append(out, a.String())
	}
	return strings.Join(out, ", ")
}

func formOf(d compose.Draft) composeForm {
	return composeForm{To: addrList(d.To), Cc: addrList(d.Cc), Bcc: addrList(d.Bcc), Subject: d.Subject, Body: d.Body,
		InReplyTo: d.InReplyTo, References: strings.Join(d.References, " "), Files: d.Attachments}
}

func (s *Server) composePage(w http.ResponseWriter, r *http.Request, sess *session) {
	mode := r.URL.Query().Get("mode")
	var d compose.Draft
	st := &composeState{}
	if mode != "" {
		raw, err := s.requestedMessage(r, sess)
		if err != nil {
			s.msgError(w, r, sess, err)
			return
		}
		m, err := mailview.Parse(bytes.NewReader(raw), mailview.Options{MaxSize: s.opts.MaxMessageSize})
		if err != nil {
			s.msgError(w, r, sess, err)
			return
		}
		self := &mail.Address{Address: sess.user}
		switch mode {
		case "reply", "replyall":
			d = compose.Reply(m, self, mode == "replyall")
		case "forward":
			if d, err = compose.Forward(m, raw); err != nil {
				s.imapError(w, r, sess, err)
				return
			}
		case "draft":
			if d, err = compose.Resume(m, raw); err != nil {
				s.imapError(w, r, sess, err)
				return
			}
			if folderParam(r) == folderDrafts {
				st.draftUID = uidParam(r)
			}
		}
		st.files = d.Attachments
	}
	f := formOf(d)
	sess.mu.Lock()
	if sess.compose == nil {
		sess.compose = map[string]*composeState{}
	}
	if len(sess.compose) > 20 { // forget abandoned forms
		clear(sess.compose)
	}
	f.ID = randomToken()[:16]
	sess.compose[f.ID] = st
	sess.mu.Unlock()
	s.renderCompose(w, r, sess, http.StatusOK, f, "")
}

func (s *Server) renderCompose(w http.ResponseWriter, r *http.Request, sess *session, status int, f composeForm, errMsg string) {
	s.render(w, status, "compose", page{Title: "Write", CSRF: sess.csrf, User: sess.user, Error: errMsg, Data: f,
		Folders: s.sidebarFolders(r, sess)})
}

// sidebarFolders lists the folders for the navigation of pages that do not
// need them otherwise; an IMAP failure only leaves the sidebar empty.
func (s *Server) sidebarFolders(r *http.Request, sess *session) []folderInfo {
	var fs []folderInfo
	_ = s.withIMAP(r.Context(), sess, func(c *imapclient.Client) (err error) {
		fs, err = folders(c)
		return err
	})
	return fs
}

func (s *Server) composePost(w http.ResponseWriter, r *http.Request, sess *session) {
	f := composeForm{ID: r.PostFormValue("cid"), To: r.PostFormValue("to"), Cc: r.PostFormValue("cc"), Bcc: r.PostFormValue("bcc"),
		Subject: r.PostFormValue("subject"), Body: r.PostFormValue("body"), InReplyTo: r.PostFormValue("in_reply_to"),
		References: r.PostFormValue("references")}
	sess.mu.Lock()
	st := sess.compose[f.ID]
	if st == nil {
		st = &composeState{}
		f.ID = randomToken()[:16]
		if sess.compose == nil {
			sess.compose = map[string]*composeState{}
		}
		sess.compose[f.ID] = st
	}
	// Keep the attachments still ticked, add the uploads.
	keep := map[string]bool{}
	for _, k := range r.PostForm["keep"] {
		keep[k] = true
	}
	var files []compose.File
	for i, fl := range st.files {
		if keep[itoa(int64(i))] {
			files = append(files, fl)
		}
	}
	var total int64
	for _, fl := range files {
		total += int64(len(fl.Data))
	}
	var uploadErr error
	if r.MultipartForm != nil {
		for _, fh := range r.MultipartForm.File["files"] {
			if fh.Size == 0 && fh.Filename == "" {
				continue
			}
			total += fh.Size
			if total > s.opts.MaxMessageSize {
				uploadErr = errors.New("the attachments are larger than the message size limit")
				break
			}
			fr, err := fh.Open()
			if err != nil {
				uploadErr = err
				break
			}
			data, err := io.ReadAll(fr)
			fr.Close()
			if err != nil {
				uploadErr = err
				break
			}
			files = append(files, compose.File{Name: fh.Filename, ContentType: fh.Header.Get("Content-Type"), Data: data})
		}
	}
	st.files = files
	f.Files = files
	sess.mu.Unlock()
	if uploadErr != nil {
		s.renderCompose(w, r, sess, http.StatusRequestEntityTooLarge, f, "Upload failed: "+uploadErr.Error())
		return
	}
	action := r.PostFormValue("action")
	if action == "attach" {
		s.renderCompose(w, r, sess, http.StatusOK, f, "")
		return
	}
	d, err := s.draftOf(f, sess.user)
	if err != nil {
		s.renderCompose(w, r, sess, http.StatusBadRequest, f, err.Error())
		return
	}
	msg, err := compose.Build(d, s.opts.Now(), s.opts.Hostname)
	if err != nil {
		s.renderCompose(w, r, sess, http.StatusBadRequest, f, "This message cannot be sent: "+err.Error())
		return
	}
	switch action {
	case "save":
		// The Drafts copy keeps Bcc, so a resumed draft still has it.
		draft, err := compose.BuildDraft(d, s.opts.Now(), s.opts.Hostname)
		if err != nil {
			s.renderCompose(w, r, sess, http.StatusBadRequest, f, "The draft cannot be saved: "+err.Error())
			return
		}
		err = s.withIMAP(r.Context(), sess, func(c *imapclient.Client) error {
			uid, err := appendTo(c, folderDrafts, draft, []imap.Flag{imap.FlagDraft, imap.FlagSeen})
			if err != nil {
				return err
			}
			removeDraft(c, st.draftUID)
			st.draftUID = uid
			return nil
		})
		if err != nil {
			s.renderCompose(w, r, sess, http.StatusBadGateway, f, "The draft was not saved: "+imapText(err))
			return
		}
		s.render(w, http.StatusOK, "compose", page{Title: "Write", CSRF: sess.csrf, User: sess.user, Notice: "Draft saved.", Data: f,
			Folders: s.sidebarFolders(r, sess)})
	case "send":
		rcpts := compose.Recipients(d)
		if len(rcpts) == 0 {
			s.renderCompose(w, r, sess, http.StatusBadRequest, f, "Add at least one recipient.")
			return
		}
		sess.mu.Lock()
		password := sess.password
		sess.mu.Unlock()
		if err := s.submit(r.Context(), sess.remote, sess.user, password, rcpts, msg); err != nil {
			s.renderCompose(w, r, sess, http.StatusBadGateway, f, "Not sent: "+err.Error())
			return
		}
		err = s.withIMAP(r.Context(), sess, func(c *imapclient.Client) error {
			removeDraft(c, st.draftUID)
			_, err := appendTo(c, folderSent, msg, []imap.Flag{imap.FlagSeen})
			return err
		})
		sess.mu.Lock()
		delete(sess.compose, f.ID)
		sess.mu.Unlock()
		notice := "Message sent."
		if err != nil {
			notice = "Message sent, but the copy in Sent failed: " + imapText(err)
		}
		http.Redirect(w, r, "/mail?f=INBOX&notice="+urlQuery(notice), http.StatusSeeOther)
	default:
		http.Error(w, "unknown action", http.StatusBadRequest)
	}
}

func (s *Server) draftOf(f composeForm, user string) (compose.Draft, error) {
	d := compose.Draft{From: &mail.Address{Address: user}, Subject: f.Subject, Body: f.Body, InReplyTo: f.InReplyTo,
		References: strings.Fields(f.References), Attachments: f.Files}
	var err error
	for _, x := range []struct {
		name string
		in   string
		out  *[]*mail.Address
	}{{"To", f.To, &d.To}, {"Cc", f.Cc, &d.Cc}, {"Bcc", f.Bcc, &d.Bcc}} {
		if *x.out, err = compose.ParseAddressList(x.in); err != nil {
			return d, errors.New(x.name + ": " + err.Error())
		}
	}
	return d, nil
}

// appendTo APPENDs msg to folder (created when missing) and returns its UID.
func appendTo(c *imapclient.Client, folder string, msg []byte, flags []imap.Flag) (imap.UID, error) {
	ensureFolder(c, folder)
	cmd := c.Append(folder, int64(len(msg)), &imap.AppendOptions{Flags: flags})
	if _, err := cmd.Write(msg); err != nil {
		cmd.Close()
		return 0, err
	}
	if err := cmd.Close(); err != nil {
		return 0, err
	}
	data, err := cmd.Wait()
	if err != nil {
		return 0, err
	}
	return data.UID, nil
}

// removeDraft deletes the previous version of a draft.
func removeDraft(c *imapclient.Client, uid imap.UID) {
	if uid == 0 {
		return
	}
	if _, err := c.Select(folderDrafts, nil).Wait(); err != nil {
		return
	}
	set := imap.UIDSetNum(uid)
	c.Store(set, &imap.StoreFlags{Op: imap.StoreFlagsAdd, Silent: true, Flags: []imap.Flag{imap.FlagDeleted}}, nil).Close()
	c.UIDExpunge(set).Close()
}

func imapText(err error) string {
	var ie *imap.Error
	if errors.As(err, &ie) {
		return ie.Text
	}
	return "the mail server is not reachable"
}
