package wbxml

import "flag"

// update makes golden-file tests rewrite their files instead of comparing:
// go test ./wbxml -run TestBenchCorpora -update.
var update = flag.Bool("update", false, "rewrite golden files and benchmark corpora under testdata")
