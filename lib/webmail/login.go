package webmail

import (
	"errors"
	"net/http"
	"strings"

	"mailctl/lib/addr"
)

func (s *Server) loginPage(w http.ResponseWriter, r *http.Request) {
	s.render(w, http.StatusOK, "login", page{Title: "Log in"})
}

func (s *Server) login(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	email := strings.TrimSpace(r.PostFormValue("email"))
	password := r.PostFormValue("password")
	fail := func(status int, msg string) {
		s.render(w, status, "login", page{Title: "Log in", Error: msg, Data: email})
	}
	a, err := addr.Parse(email)
	if err != nil || password == "" {
		fail(http.StatusUnauthorized, "Login failed: wrong address or password.")
		return
	}
	remote := s.clientIP(r)
	conn, c, err := s.dialIMAP(r.Context(), remote, a.String(), password)
	if err != nil {
		if errors.Is(err, errLogin) {
			s.log.Info("webmail login failed", "user", a.String(), "remote", remote.String())
			fail(http.StatusUnauthorized, "Login failed: wrong address or password.")
			return
		}
		s.log.Warn("webmail login", "user", a.String(), "remote", remote.String(), "err", err)
		fail(http.StatusServiceUnavailable, "The mail server is not reachable. Please try again later.")
		return
	}
	sess := &session{user: a.String(), remote: remote, password: password, conn: conn, client: c}
	if err := s.sessions.add(sess); err != nil {
		sess.close()
		fail(http.StatusServiceUnavailable, "Too many sessions. Please try again later.")
		return
	}
	s.log.Info("webmail login", "user", sess.user, "remote", remote.String())
	s.setCookie(w, r, sess.id, 0)
	http.Redirect(w, r, "/mail?f=INBOX", http.StatusSeeOther)
}

func (s *Server) logout(w http.ResponseWriter, r *http.Request, sess *session) {
	if x := s.sessions.remove(sess.id); x != nil {
		x.close()
	}
	s.setCookie(w, r, "", -1)
	http.Redirect(w, r, "/login", http.StatusSeeOther)
}
