package prompts

import (
	"fmt"
	"time"
)

// MaxCount is the largest number with a spoken count prompt (CountID);
// larger numbers are read digit by digit.
const MaxCount = 60

// CountID is the prompt that says n as a word ("fifteen"), for 0 to
// MaxCount; ok is false outside that range.
func CountID(n int) (ID, bool) {
	if n < 0 || n > MaxCount {
		return "", false
	}
	return ID(fmt.Sprintf("count_%d", n)), true
}

// MinutesIDs is what the hotline says for a call limited to d: "you have
// fifteen minutes", "you have one minute", or "you have less than one
// minute"; whole minutes, rounded down, counts beyond MaxCount digit by
// digit.
func MinutesIDs(d time.Duration) []ID {
	m := int(d / time.Minute)
	switch {
	case m <= 0:
		return []ID{LessThanAMinute}
	case m == 1:
		return []ID{OneMinuteAvailable}
	}
	ids := []ID{YouHave}
	if id, ok := CountID(m); ok {
		ids = append(ids, id)
	} else {
		d, _ := DigitIDs(fmt.Sprint(m))
		ids = append(ids, d...)
	}
	return append(ids, Minutes)
}

// countEntries are the catalogue's count prompts, 0 to MaxCount.
func countEntries() []Entry {
	out := make([]Entry, 0, MaxCount+1)
	for n := 0; n <= MaxCount; n++ {
		id, _ := CountID(n)
		out = append(out, Entry{ID: id, Text: map[string]string{"en": englishCount(n), "es": spanishCount(n)}})
	}
	return out
}

var englishSmall = []string{"zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine",
	"ten", "eleven", "twelve", "thirteen", "fourteen", "fifteen", "sixteen", "seventeen", "eighteen", "nineteen"}

var englishTens = []string{2: "twenty", 3: "thirty", 4: "forty", 5: "fifty", 6: "sixty"}

// englishCount spells 0-69 in English.
func englishCount(n int) string {
	if n < 20 {
		return englishSmall[n]
	}
	if n%10 == 0 {
		return englishTens[n/10]
	}
	return englishTens[n/10] + "-" + englishSmall[n%10]
}

// spanishSmall is 0-29 in Spanish, with the apocopated "un" forms used
// before a masculine noun ("veintiún minutos").
var spanishSmall = []string{"cero", "un", "dos", "tres", "cuatro", "cinco", "seis", "siete", "ocho", "nueve",
	"diez", "once", "doce", "trece", "catorce", "quince", "dieciséis", "diecisiete", "dieciocho", "diecinueve",
	"veinte", "veintiún", "veintidós", "veintitrés", "veinticuatro", "veinticinco", "veintiséis", "veintisiete", "veintiocho", "veintinueve"}

var spanishTens = []string{3: "treinta", 4: "cuarenta", 5: "cincuenta", 6: "sesenta"}

// spanishCount spells 0-69 in Spanish, as counted minutes.
func spanishCount(n int) string {
	if n < 30 {
		return spanishSmall[n]
	}
	if n%10 == 0 {
		return spanishTens[n/10]
	}
	return spanishTens[n/10] + " y " + spanishSmall[n%10]
}
