module github.com/sockscope/sockscope

go 1.26

require (
	github.com/go-chi/chi/v5 v5.5.0 // indirect
	github.com/gorilla/websocket v1.5.3 // indirect
	golang.org/x/sys v0.49.0 // indirect
)
