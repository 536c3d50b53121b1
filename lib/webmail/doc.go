// Package webmail is webmaild's HTTP server: server-rendered pages
// (html/template, embedded CSS and a little JavaScript that only enhances)
// over one IMAP connection per web session to imapd, and submission through
// submitd, both on their webmail listeners (a PROXY v1 header names the
// browser's address first, so lib/auth counts failures per browser).
//
// Sessions live in memory: a random 256-bit id in the cookie "mwsid"
// (HttpOnly, SameSite=Strict, Secure unless plain HTTP on loopback), the
// user's address and password (never written anywhere), the IMAP
// connection (its use serialised by a mutex, redialled with the kept
// password when it drops), and a CSRF token every POST must carry in the
// form field "csrf". An idle session is logged out and forgotten.
//
// Routes: /login, /logout, /mail?f=FOLDER&page=N&q=SEARCH, /msg?f=&uid=,
// /msg/frame (the message's HTML, its own sandbox CSP), /msg/part (download),
// /msg/raw, /compose, /action (bulk), /folders, /static/, and Mozilla
// autoconfig at /.well-known/autoconfig/mail/config-v1.1.xml and
// /mail/config-v1.1.xml.
//
// Stable DOM hooks for browser tests:
//
//	form#login-form  input[name=email] input[name=password] button#login-submit
//	div#error (generic error text), div#notice (success text)
//	nav#folders  a.folder[data-folder=NAME] span.unread
//	form#list-form  tr.msg[data-uid=UID][data-seen=true|false]  input[name=uid]
//	  input#select-all  a.msg-link  button[name=op][value=read|unread|flag|unflag|delete|junk|notjunk|move]
//	  select[name=dest]  form#search-form input[name=q]
//	a#compose  a#reply  a#reply-all  a#forward  a#raw  a#load-images
//	div#msg-subject  div#msg-from  div#msg-text  iframe#msg-frame  ul#attachments a.attachment[data-part=PART]
//	form#compose-form  input[name=to|cc|bcc|subject]  textarea[name=body]  input[name=files]
//	  button#send (name=action value=send)  button#save-draft (value=save)
//	form#empty-trash  form#logout-form button#logout
//	form#folder-create input[name=name]  form.folder-rename  form.folder-delete
package webmail
