package api

import (
	"net/http"

	"github.com/kinline/kinline/central/api/httpjson"
	"github.com/kinline/kinline/central/api/openapi"
	"github.com/kinline/kinline/shared/version"
)

// versionRoutes: GET /api/v1/version, the build of this central (its
// release, protocol, batch and capability versions, Go), for any signed-in
// role. Appliances' versions are in GET /api/v1/appliances ("software").
func versionRoutes() map[string]http.HandlerFunc {
	return map[string]http.HandlerFunc{
		"GET /api/v1/version": func(w http.ResponseWriter, r *http.Request) {
			httpjson.Write(w, http.StatusOK, version.Get())
		},
	}
}

func init() {
	opDocs["GET /api/v1/version"] = openapi.Doc{
		Summary:     "This central's version",
		Description: "The release of this central (set at build time, else its VCS revision, else \"dev\"), the protocol version it speaks, the batch versions it accepts (min_batch_version to batch_version), its capability version and its Go version. Which appliance versions work with it: docs/COMPATIBILITY.md.",
		Out:         version.Info{},
	}
}
