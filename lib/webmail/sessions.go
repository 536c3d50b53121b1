package webmail

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"net"
	"net/http"
	"net/netip"
	"sync"
	"time"

	"github.com/emersion/go-imap/v2/imapclient"
)

const cookieName = "mwsid"

// errTooManySessions is returned when the session cap is reached.
var errTooManySessions = errors.New("webmail: too many sessions")

type netConn = net.Conn

// session is one logged-in browser. mu serialises the IMAP connection and
// the compose state; the fields above it never change.
type session struct {
	id, csrf string
	user     string
	remote   netip.Addr

	mu       sync.Mutex
	password string
	conn     net.Conn
	client   *imapclient.Client
	last     time.Time
	compose  map[string]*composeState
}

func (s *session) close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.password = ""
	s.compose = nil
	if s.client != nil {
		s.conn.SetDeadline(time.Now().Add(2 * time.Second))
		s.client.Logout().Wait()
		s.client.Close()
		s.client, s.conn = nil, nil
	}
}

type sessionStore struct {
	mu   sync.Mutex
	m    map[string]*session
	max  int
	idle time.Duration
	now  func() time.Time
}

func newSessionStore(max int, idle time.Duration, now func() time.Time) *sessionStore {
	return &sessionStore{m: map[string]*session{}, max: max, idle: idle, now: now}
}

func randomToken() string {
	b := make([]byte, 32)
	rand.Read(b) // never fails (crypto/rand panics instead)
	return base64.RawURLEncoding.EncodeToString(b)
}

func (st *sessionStore) add(s *session) error {
	st.mu.Lock()
	defer st.mu.Unlock()
	if len(st.m) >= st.max {
		return errTooManySessions
	}
	s.id, s.csrf = randomToken(), randomToken()
	s.last = st.now()
	st.m[s.id] = s
	return nil
}

// get returns the live session for id and marks it used.
func (st *sessionStore) get(id string) *session {
	st.mu.Lock()
	defer st.mu.Unlock()
	s := st.m[id]
	if s == nil {
		return nil
	}
	now := st.now()
	if now.Sub(s.last) > st.idle {
		delete(st.m, id)
		go s.close()
		return nil
	}
	s.last = now
	return s
}

func (st *sessionStore) remove(id string) *session {
	st.mu.Lock()
	defer st.mu.Unlock()
	s := st.m[id]
	delete(st.m, id)
	return s
}

func (st *sessionStore) expire() []*session {
	st.mu.Lock()
	defer st.mu.Unlock()
	var out []*session
	now := st.now()
	for id, s := range st.m {
		if now.Sub(s.last) > st.idle {
			delete(st.m, id)
			out = append(out, s)
		}
	}
	return out
}

func (st *sessionStore) drain() []*session {
	st.mu.Lock()
	defer st.mu.Unlock()
	var out []*session
	for id, s := range st.m {
		delete(st.m, id)
		out = append(out, s)
	}
	return out
}

func (st *sessionStore) count() int {
	st.mu.Lock()
	defer st.mu.Unlock()
	return len(st.m)
}

// authed wraps a handler that needs a session; POSTs must carry its CSRF token.
func (s *Server) authed(h func(http.ResponseWriter, *http.Request, *session)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		c, err := r.Cookie(cookieName)
		var sess *session
		if err == nil {
			sess = s.sessions.get(c.Value)
		}
		if sess == nil {
			if r.Method == http.MethodGet {
				http.Redirect(w, r, "/login", http.StatusSeeOther)
			} else {
				http.Error(w, "not logged in", http.StatusForbidden)
			}
			return
		}
		if r.Method == http.MethodPost {
			r.Body = http.MaxBytesReader(w, r.Body, s.opts.MaxMessageSize+1<<20)
			if err := r.ParseMultipartForm(8 << 20); err != nil && !errors.Is(err, http.ErrNotMultipart) {
				http.Error(w, "request too large or malformed", http.StatusRequestEntityTooLarge)
				return
			}
			if !validCSRF(r, sess.csrf) {
				http.Error(w, "invalid CSRF token", http.StatusForbidden)
				return
			}
		}
		ctx := r.Context()
		if r.Method == http.MethodGet {
			ctx = context.WithValue(ctx, idempotentKey{}, true)
		}
		h(w, r.WithContext(ctx), sess)
	}
}

func (s *Server) setCookie(w http.ResponseWriter, r *http.Request, value string, maxAge int) {
	http.SetCookie(w, &http.Cookie{
		Name: cookieName, Value: value, Path: "/", MaxAge: maxAge,
		HttpOnly: true, Secure: s.secure(r), SameSite: http.SameSiteStrictMode,
	})
}
