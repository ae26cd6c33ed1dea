// Package conventions holds tests of the repository's written-down code
// conventions (docs/decisions/0026): the shape limits issue 12 set (no
// function in appliance/ or central/ over 100 lines, no central package
// over 3,000 lines) and the log key for errors. It has no code of its own;
// its tests read the source tree with go/parser.
package conventions
