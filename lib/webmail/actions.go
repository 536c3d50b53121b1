package webmail

import (
	"net/http"
	"strconv"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
)

// action applies op to the ticked messages (field "uid", repeated) of
// folder "f": read, unread, flag, unflag, move (to "dest"), delete (to
// Trash, or for good in Trash), junk, notjunk, empty (the whole Trash).
func (s *Server) action(w http.ResponseWriter, r *http.Request, sess *session) {
	folder := folderParam(r)
	op := r.PostFormValue("op")
	var uids []imap.UID
	for _, v := range r.PostForm["uid"] {
		if n, err := strconv.ParseUint(v, 10, 32); err == nil && n > 0 {
			uids = append(uids, imap.UID(n))
		}
	}
	back := "/mail?f=" + urlQuery(folder)
	if len(uids) == 0 && op != "empty" {
		http.Redirect(w, r, back+"&notice="+urlQuery("Select messages first."), http.StatusSeeOther)
		return
	}
	set := imap.UIDSetNum(uids...)
	store := func(c *imapclient.Client, o imap.StoreFlagsOp, f imap.Flag) error {
		return c.Store(set, &imap.StoreFlags{Op: o, Silent: true, Flags: []imap.Flag{f}}, nil).Close()
	}
	move := func(c *imapclient.Client, dest string) error {
		ensureFolder(c, dest)
		_, err := c.Move(set, dest).Wait()
		return err
	}
	expunge := func(c *imapclient.Client) error {
		if err := store(c, imap.StoreFlagsAdd, imap.FlagDeleted); err != nil {
			return err
		}
		return c.UIDExpunge(set).Close()
	}
	notice := ""
	err := s.withIMAP(r.Context(), sess, func(c *imapclient.Client) error {
		if op == "empty" {
			folder = folderTrash
			back = "/mail?f=" + folderTrash
			sel, err := c.Select(folderTrash, nil).Wait()
			if err != nil || sel.NumMessages == 0 {
				return err
			}
			all := seqRange(1, 0)
			if err := c.Store(all, &imap.StoreFlags{Op: imap.StoreFlagsAdd, Silent: true, Flags: []imap.Flag{imap.FlagDeleted}}, nil).Close(); err != nil {
				return err
			}
			notice = "Trash emptied."
			return c.Expunge().Close()
		}
		if _, err := c.Select(folder, nil).Wait(); err != nil {
			return err
		}
		switch op {
		case "read":
			return store(c, imap.StoreFlagsAdd, imap.FlagSeen)
		case "unread":
			return store(c, imap.StoreFlagsDel, imap.FlagSeen)
		case "flag":
			return store(c, imap.StoreFlagsAdd, imap.FlagFlagged)
		case "unflag":
			return store(c, imap.StoreFlagsDel, imap.FlagFlagged)
		case "move":
			dest := r.PostFormValue("dest")
			if dest == "" || dest == folder {
				notice = "Choose a folder to move to."
				return nil
			}
			notice = "Moved to " + dest + "."
			return move(c, dest)
		case "delete":
			if folder == folderTrash {
				notice = "Deleted for good."
				return expunge(c)
			}
			notice = "Moved to Trash."
			return move(c, folderTrash)
		case "junk":
			notice = "Moved to Junk."
			return move(c, folderJunk)
		case "notjunk":
			notice = "Moved to INBOX."
			return move(c, "INBOX")
		}
		notice = "Unknown action."
		return nil
	})
	if err != nil {
		s.imapError(w, r, sess, err)
		return
	}
	if ret := r.PostFormValue("return"); ret == "msg" && (op == "read" || op == "unread" || op == "flag" || op == "unflag") && len(uids) == 1 {
		back = "/msg?f=" + urlQuery(folder) + "&uid=" + strconv.FormatUint(uint64(uids[0]), 10)
	} else if notice != "" {
		back += "&notice=" + urlQuery(notice)
	}
	http.Redirect(w, r, back, http.StatusSeeOther)
}

func (s *Server) foldersPage(w http.ResponseWriter, r *http.Request, sess *session) {
	var fs []folderInfo
	err := s.withIMAP(r.Context(), sess, func(c *imapclient.Client) (err error) {
		fs, err = folders(c)
		return err
	})
	if err != nil {
		s.imapError(w, r, sess, err)
		return
	}
	s.render(w, http.StatusOK, "folders", page{Title: "Folders", CSRF: sess.csrf, User: sess.user, Folders: fs,
		Notice: r.URL.Query().Get("notice"), Data: fs})
}

// foldersPost creates (name), renames (f → name) or deletes (f) a folder.
func (s *Server) foldersPost(w http.ResponseWriter, r *http.Request, sess *session) {
	op, name, old := r.PostFormValue("op"), r.PostFormValue("name"), r.PostFormValue("f")
	var notice string
	err := s.withIMAP(r.Context(), sess, func(c *imapclient.Client) error {
		switch op {
		case "create":
			notice = "Folder " + name + " created."
			return c.Create(name, nil).Wait()
		case "rename":
			notice = "Folder renamed to " + name + "."
			return c.Rename(old, name, nil).Wait()
		case "delete":
			notice = "Folder " + old + " deleted."
			return c.Delete(old).Wait()
		}
		notice = "Unknown action."
		return nil
	})
	if err != nil {
		notice = "The mail server refused: " + imapText(err)
	}
	http.Redirect(w, r, "/folders?notice="+urlQuery(notice), http.StatusSeeOther)
}
