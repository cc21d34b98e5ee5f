package wbxml

// Update is the -update flag, exported for the external test package (wbxml_test): a flag
// can be defined only once per test binary.
var Update = update
