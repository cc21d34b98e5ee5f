// Package wbxml is the WBXML 1.3 codec of Exchange ActiveSync.
//
//go:generate go run ./internal/gen -in internal/gen/codepages.txt -out tables.go
package wbxml
