// Package static holds the dashboard page: plain HTML, CSS and ES modules,
// with no framework and no build step, so the files the browser runs are the
// files in this directory. Package web serves them.
package static

import "embed"

// FS is the page's files, embedded at build time. Tests and the node test
// runner's package.json stay out of the binary.
//
//go:embed *.html *.css *.js *.svg
var FS embed.FS
