package api

import (
	"fmt"
	"net/http"

	"github.com/kinline/kinline/central/api/openapi"
	"github.com/kinline/kinline/central/store/people"
)

// peopleDocs document people's photos (manage.go); init adds them to
// opDocs, and notes the people's own call quotas on the routes that
// create and change a person.
var peopleDocs = map[string]openapi.Doc{
	"GET /api/v1/inmates/{id}/photo": {
		Summary:     "Get a person's photo",
		Description: "The person's photo as the image it is (image/jpeg or image/png, with X-Content-Type-Options: nosniff and no caching); 404 when the person has none.",
		Path:        map[string]string{"id": pPerson},
		OutMedia:    []string{people.PhotoJPEG, people.PhotoPNG},
		OutDesc:     "The image.",
	},
	"PUT /api/v1/inmates/{id}/photo": {
		Summary: "Set a person's photo",
		Description: fmt.Sprintf("Sets or replaces the person's photo: the body is the image file, with Content-Type image/jpeg or image/png matching what the file is "+
			"(its header is decoded; nothing else is accepted), at most %d bytes, %d to %d pixels wide and high. Audited as inmate.photo_set with the file's SHA-256. "+
			"Photos stay at central (appliances never get them).", people.MaxPhotoBytes, people.MinPhotoSide, people.MaxPhotoSide),
		Path:    map[string]string{"id": pPerson},
		RawBody: []string{people.PhotoJPEG, people.PhotoPNG},
		Out:     photoOut{}, OutDesc: "The photo's description (type, size, dimensions, SHA-256).",
		Errors: map[int]any{
			http.StatusRequestEntityTooLarge: fmt.Sprintf("The file is larger than %d bytes.", people.MaxPhotoBytes),
			http.StatusUnsupportedMediaType:  "The Content-Type is not image/jpeg or image/png, or the file is not the image it says.",
		},
	},
	"DELETE /api/v1/inmates/{id}/photo": {
		Summary:     "Remove a person's photo",
		Description: "Removes the person's photo; audited as inmate.photo_delete. 404 when the person has none.",
		Path:        map[string]string{"id": pPerson},
		Status:      http.StatusNoContent, OutDesc: "Removed.",
	},
}

// quotaFields note the people's own quotas in the bodies that set them.
var quotaFields = map[string]string{
	"calls_per_day":   fmt.Sprintf("The person's own calls per day, replacing their rule's (0: the rule's; at most %d).", people.MaxCallsPerPeriod),
	"calls_per_week":  "The person's own calls per ISO week (Monday to Sunday, in the prison's time zone), as calls_per_day.",
	"calls_per_month": "The person's own calls per calendar month, as calls_per_day.",
}

func init() {
	for p, d := range peopleDocs {
		if _, dup := opDocs[p]; dup {
			panic("api: route documented twice: " + p)
		}
		opDocs[p] = d
	}
	for _, p := range []string{"POST /api/v1/inmates", "PATCH /api/v1/inmates/{id}"} {
		d := opDocs[p]
		fields := map[string]string{}
		for k, v := range d.Fields {
			fields[k] = v
		}
		for k, v := range quotaFields {
			if _, dup := fields[k]; dup {
				panic("api: field documented twice: " + p + " " + k)
			}
			fields[k] = v
		}
		d.Fields = fields
		opDocs[p] = d
	}
}
