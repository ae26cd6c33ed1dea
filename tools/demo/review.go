package main

import (
	"context"
	"fmt"

	"github.com/kinline/kinline/central/authz"
)

// The review routes the demo uses, when central has them (the access
// matrix is built into this binary from the same checkout as central).
const (
	notesRoute     = "POST /api/v1/calls/{id}/notes"
	bookmarksRoute = "POST /api/v1/calls/{id}/bookmarks"
)

// reviewFirstCall has the investigator write a review note and a bookmark
// on the first recorded call, when central's API has them; otherwise it
// says so and adds nothing.
func (d *demo) reviewFirstCall(ctx context.Context) error {
	_, notes := authz.Routes[notesRoute]
	_, bookmarks := authz.Routes[bookmarksRoute]
	if !notes || !bookmarks {
		d.review = "  Review:    this central has no review notes or bookmarks API; none were added.\n"
		step("review notes and bookmarks: not in central's API, skipped")
		return nil
	}
	return d.do("the investigator writes a review note (to follow up) and a bookmark on the first recorded call", func() error {
		path := "/api/v1/calls/" + d.recorded
		if err := d.investigator.Do(ctx, "POST", path+"/notes", map[string]any{
			"reason": "routine review", "follow_up": true,
			"note": "Mother mentions a visit on Saturday and a parcel; check the visit booking and the parcel log.",
		}, nil); err != nil {
			return err
		}
		if err := d.investigator.Do(ctx, "POST", path+"/bookmarks", map[string]any{
			"offset_ms": 2000, "label": "visit on Saturday mentioned",
		}, nil); err != nil {
			return err
		}
		d.review = fmt.Sprintf("  Review:    curl -H \"Authorization: Bearer $(cat %s/admin-token)\" http://%s%s/notes   (and %[3]s/bookmarks)\n",
			d.cfg.dir, d.st.HTTPAddr, path)
		return nil
	})
}
