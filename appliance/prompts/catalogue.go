package prompts

// ID names one spoken prompt. Its value is the asset's file name without
// the ".wav" extension.
type ID string

// Instructions of the calling flow.
const (
	TapCard     ID = "tap_card"
	EnterPIN    ID = "enter_pin"
	WrongPIN    ID = "wrong_pin"
	EnterNumber ID = "enter_number"
	TryAgain    ID = "try_again"
	WaitOfficer ID = "wait_officer"
	Calling     ID = "calling"
	PINLocked   ID = "pin_locked"
	// Menu is the hotline's main menu: 1 to make a call, 2 for the
	// balance and calls left.
	Menu ID = "menu"
	// MenuRecordName follows Menu where names can be recorded: 3 to
	// record the name the called party hears.
	MenuRecordName ID = "menu_record_name"
	// RecordNameAfterTone asks for the name before the beep (Beep).
	RecordNameAfterTone ID = "record_name_after_tone"
	// NameRecorded comes before the recorded name is played back.
	NameRecorded ID = "name_recorded"
	// NameNotHeard: the recording was silent, nothing was kept.
	NameNotHeard ID = "name_not_heard"
)

// Refusal reasons, one per reason the authorizer, the rules and the
// officer panel can give (see ForReason).
const (
	RefusedUnknownCard     ID = "refused_unknown_card"
	RefusedNoCard          ID = "refused_no_card"
	RefusedNotApproved     ID = "refused_not_approved"
	RefusedInactive        ID = "refused_inactive"
	RefusedNoPolicy        ID = "refused_no_policy"
	RefusedInvalidNumber   ID = "refused_invalid_number"
	RefusedUnknownTerminal ID = "refused_unknown_terminal"
	RefusedOutsideHours    ID = "refused_outside_hours"
	RefusedDailyLimit      ID = "refused_daily_limit"
	RefusedCallLimit       ID = "refused_call_limit"
	RefusedBalance         ID = "refused_balance"
	RefusedLockdown        ID = "refused_lockdown"
	RefusedOfficer         ID = "refused_officer"
	RefusedNotConfirmed    ID = "refused_not_confirmed"
	// RefusedPanelUnavailable: the call needs an officer's confirmation
	// and the officer panel cannot ask for it (missing, closed, or too
	// many calls already waiting).
	RefusedPanelUnavailable ID = "refused_panel_unavailable"
	RefusedNumberBlocked    ID = "refused_number_blocked"
	RefusedNoRate           ID = "refused_no_rate"
	RefusedStorageFull      ID = "refused_storage_full"
)

// Dispositions of a trunk call, told to the person before hang-up.
const (
	CallBusy     ID = "call_busy"
	CallNoAnswer ID = "call_no_answer"
	CallRejected ID = "call_rejected"
	CallFailed   ID = "call_failed"
)

// Information, warnings and the end of a call. Pieces meant to be
// followed by a number (BalanceIs, CallsLeft, YouHave) end without a full
// stop; Minutes follows one.
const (
	BalanceIs      ID = "balance_is"
	Point          ID = "point"
	And            ID = "and"
	Cents          ID = "cents"
	Minus          ID = "minus"
	CallsLeft      ID = "calls_left"
	CallsLeftWeek  ID = "calls_left_week"
	CallsLeftMonth ID = "calls_left_month"
	NoLimit        ID = "no_limit"
	YouHave        ID = "you_have"
	Minutes        ID = "minutes"
	// OneMinuteAvailable and LessThanAMinute are said instead of
	// YouHave, a count and Minutes for 1 and 0 whole minutes.
	OneMinuteAvailable ID = "one_minute_available"
	LessThanAMinute    ID = "less_than_a_minute"
	TwoMinutesLeft     ID = "minutes_left_2"
	OneMinuteLeft      ID = "minute_left_1"
	CallRecorded       ID = "call_recorded"
	Goodbye            ID = "goodbye"
)

// Prompts for the called party (leg B).
const (
	FamilyAnnounce ID = "family_announce"
	FamilyOptions  ID = "family_options"
	// FamilyCallFrom is followed by the caller's name (recorded or
	// spoken), then FamilyCallingFrom and the prison's name, or
	// FamilyFromAPrison when the prison's name cannot be said.
	FamilyCallFrom    ID = "family_call_from"
	FamilyCallingFrom ID = "family_calling_from"
	FamilyFromAPrison ID = "family_from_a_prison"
	// FamilyPersonCallingFrom is followed by the prison's name when the
	// caller's name cannot be said.
	FamilyPersonCallingFrom ID = "family_person_calling_from"
)

// Digits, for reading numbers and balances back.
const (
	Digit0 ID = "digit_0"
	Digit1 ID = "digit_1"
	Digit2 ID = "digit_2"
	Digit3 ID = "digit_3"
	Digit4 ID = "digit_4"
	Digit5 ID = "digit_5"
	Digit6 ID = "digit_6"
	Digit7 ID = "digit_7"
	Digit8 ID = "digit_8"
	Digit9 ID = "digit_9"
)

// Voice is how the generator speaks one language: an espeak-ng voice name
// and its speed in words per minute.
type Voice struct {
	Lang  string // the catalogue's language code, e.g. "es"
	Name  string // espeak-ng -v
	Speed int    // espeak-ng -s
}

// DefaultLang is the language every prompt exists in and the fallback
// for languages (or prompts) that are missing.
const DefaultLang = "en"

// voices lists the languages in the catalogue, DefaultLang first.
var voices = []Voice{
	{Lang: "en", Name: "en-us", Speed: 150},
	{Lang: "es", Name: "es-419", Speed: 145},
}

// Entry is one prompt's text per language.
type Entry struct {
	ID   ID
	Text map[string]string // language -> text to speak
}

// catalogue is the source of truth for what the prompts say. Changing a
// text requires running the generator (go run ./appliance/prompts/gen);
// a test fails while the committed audio does not match it.
var catalogue = append([]Entry{
	{TapCard, map[string]string{"en": "Please tap your card on the reader.", "es": "Por favor, acerque su tarjeta al lector."}},
	{EnterPIN, map[string]string{"en": "Please enter your PIN, followed by the hash key.", "es": "Por favor, marque su clave personal, seguida de la tecla numeral."}},
	{WrongPIN, map[string]string{"en": "The PIN is not correct.", "es": "La clave no es correcta."}},
	{EnterNumber, map[string]string{"en": "Please enter the number you want to call, followed by the hash key.", "es": "Marque el número al que desea llamar, seguido de la tecla numeral."}},
	{TryAgain, map[string]string{"en": "Please try again.", "es": "Por favor, intente de nuevo."}},
	{WaitOfficer, map[string]string{"en": "Please wait for the officer to confirm your call.", "es": "Por favor, espere a que el oficial confirme su llamada."}},
	{Calling, map[string]string{"en": "Calling", "es": "Llamando al"}},
	{PINLocked, map[string]string{"en": "Too many wrong PINs. Your card is locked for now.", "es": "Demasiadas claves incorrectas. Su tarjeta queda bloqueada por ahora."}},
	{Menu, map[string]string{"en": "To make a call, press 1. For your balance and calls left, press 2.", "es": "Para hacer una llamada, marque 1. Para su saldo y llamadas restantes, marque 2."}},
	{MenuRecordName, map[string]string{"en": "To record your name for the people you call, press 3.", "es": "Para grabar su nombre para las personas a las que llama, marque 3."}},
	{RecordNameAfterTone, map[string]string{"en": "After the tone, say your first and last name.", "es": "Después del tono, diga su nombre y apellido."}},
	{NameRecorded, map[string]string{"en": "Thank you. The people you call will hear", "es": "Gracias. Las personas a las que llame escucharán"}},
	{NameNotHeard, map[string]string{"en": "No name was heard. Nothing was saved.", "es": "No se escuchó ningún nombre. No se guardó nada."}},

	{RefusedUnknownCard, map[string]string{"en": "This card is not recognized.", "es": "Esta tarjeta no es reconocida."}},
	{RefusedNoCard, map[string]string{"en": "No card was tapped.", "es": "No se acercó ninguna tarjeta."}},
	{RefusedNotApproved, map[string]string{"en": "This number is not on your approved list.", "es": "Este número no está en su lista aprobada."}},
	{RefusedInactive, map[string]string{"en": "Your account is not active.", "es": "Su cuenta no está activa."}},
	{RefusedNoPolicy, map[string]string{"en": "Calls are not available yet. The system has no rules loaded.", "es": "Las llamadas todavía no están disponibles. El sistema no tiene reglas cargadas."}},
	{RefusedInvalidNumber, map[string]string{"en": "The number you entered is not valid.", "es": "El número marcado no es válido."}},
	{RefusedUnknownTerminal, map[string]string{"en": "This telephone is not set up for calls.", "es": "Este teléfono no está configurado para llamadas."}},
	{RefusedOutsideHours, map[string]string{"en": "Calls are not allowed at this time.", "es": "No se permiten llamadas a esta hora."}},
	{RefusedDailyLimit, map[string]string{"en": "You have reached your limit of calls for today.", "es": "Ha alcanzado su límite de llamadas de hoy."}},
	{RefusedCallLimit, map[string]string{"en": "You have reached your limit of calls for this period.", "es": "Ha alcanzado su límite de llamadas para este período."}},
	{RefusedBalance, map[string]string{"en": "Your balance is too low for this call.", "es": "Su saldo no alcanza para esta llamada."}},
	{RefusedLockdown, map[string]string{"en": "Calls from this block are suspended.", "es": "Las llamadas de este módulo están suspendidas."}},
	{RefusedOfficer, map[string]string{"en": "The officer did not allow this call.", "es": "El oficial no autorizó esta llamada."}},
	{RefusedNotConfirmed, map[string]string{"en": "No officer confirmed this call in time.", "es": "Ningún oficial confirmó esta llamada a tiempo."}},
	{RefusedPanelUnavailable, map[string]string{"en": "This call needs an officer to confirm it, and the officer panel is not available now. Please try again later.", "es": "Esta llamada necesita la confirmación de un oficial, y el panel del oficial no está disponible ahora. Por favor, intente más tarde."}},
	{RefusedNumberBlocked, map[string]string{"en": "Calls to this number are blocked.", "es": "Las llamadas a este número están bloqueadas."}},
	{RefusedNoRate, map[string]string{"en": "Calls to this number have no price set, so they cannot be made. Please ask an officer.", "es": "Las llamadas a este número no tienen precio, así que no se pueden hacer. Por favor, consulte a un funcionario."}},
	{RefusedStorageFull, map[string]string{"en": "Calls cannot be made right now because the phone system cannot record them. Please tell an officer.", "es": "No se pueden hacer llamadas ahora porque el sistema no puede grabarlas. Por favor, avise a un funcionario."}},

	{CallBusy, map[string]string{"en": "The number is busy.", "es": "El número está ocupado."}},
	{CallNoAnswer, map[string]string{"en": "There was no answer.", "es": "No hubo respuesta."}},
	{CallRejected, map[string]string{"en": "The call was not accepted.", "es": "La llamada no fue aceptada."}},
	{CallFailed, map[string]string{"en": "The call could not be connected.", "es": "No se pudo conectar la llamada."}},

	{BalanceIs, map[string]string{"en": "Your balance is", "es": "Su saldo es"}},
	{Point, map[string]string{"en": "point", "es": "punto"}},
	{And, map[string]string{"en": "and", "es": "con"}},
	{Cents, map[string]string{"en": "cents.", "es": "céntimos."}},
	{Minus, map[string]string{"en": "minus", "es": "menos"}},
	{CallsLeft, map[string]string{"en": "Calls left today", "es": "Llamadas restantes hoy"}},
	{CallsLeftWeek, map[string]string{"en": "Calls left this week", "es": "Llamadas restantes esta semana"}},
	{CallsLeftMonth, map[string]string{"en": "Calls left this month", "es": "Llamadas restantes este mes"}},
	{NoLimit, map[string]string{"en": "no limit.", "es": "sin límite."}},
	{YouHave, map[string]string{"en": "You have", "es": "Le quedan"}},
	{Minutes, map[string]string{"en": "minutes.", "es": "minutos."}},
	{OneMinuteAvailable, map[string]string{"en": "You have one minute.", "es": "Le queda un minuto."}},
	{LessThanAMinute, map[string]string{"en": "You have less than one minute.", "es": "Le queda menos de un minuto."}},
	{TwoMinutesLeft, map[string]string{"en": "Two minutes remaining.", "es": "Quedan dos minutos."}},
	{OneMinuteLeft, map[string]string{"en": "One minute remaining.", "es": "Queda un minuto."}},
	{CallRecorded, map[string]string{"en": "This call is recorded and may be monitored.", "es": "Esta llamada es grabada y puede ser monitoreada."}},
	{Goodbye, map[string]string{"en": "Goodbye.", "es": "Adiós."}},

	{FamilyAnnounce, map[string]string{"en": "You have a call from a person in prison.", "es": "Tiene una llamada de una persona en prisión."}},
	{FamilyCallFrom, map[string]string{"en": "You have a call from", "es": "Tiene una llamada de"}},
	{FamilyCallingFrom, map[string]string{"en": "calling from", "es": "que llama desde"}},
	{FamilyFromAPrison, map[string]string{"en": "calling from a prison.", "es": "que llama desde una prisión."}},
	{FamilyPersonCallingFrom, map[string]string{"en": "You have a call from a person calling from", "es": "Tiene una llamada de una persona que llama desde"}},
	{FamilyOptions, map[string]string{"en": "To accept the call, press 1. To refuse it, hang up. To block calls from this person, press 9.", "es": "Para aceptar la llamada, marque 1. Para rechazarla, cuelgue. Para bloquear las llamadas de esta persona, marque 9."}},

	{Digit0, map[string]string{"en": "zero", "es": "cero"}},
	{Digit1, map[string]string{"en": "one", "es": "uno"}},
	{Digit2, map[string]string{"en": "two", "es": "dos"}},
	{Digit3, map[string]string{"en": "three", "es": "tres"}},
	{Digit4, map[string]string{"en": "four", "es": "cuatro"}},
	{Digit5, map[string]string{"en": "five", "es": "cinco"}},
	{Digit6, map[string]string{"en": "six", "es": "seis"}},
	{Digit7, map[string]string{"en": "seven", "es": "siete"}},
	{Digit8, map[string]string{"en": "eight", "es": "ocho"}},
	{Digit9, map[string]string{"en": "nine", "es": "nueve"}},
}, countEntries()...)

// Catalogue returns every prompt with its text per language, in a fixed
// order. The result is a copy.
func Catalogue() []Entry {
	out := make([]Entry, len(catalogue))
	for i, e := range catalogue {
		t := make(map[string]string, len(e.Text))
		for k, v := range e.Text {
			t[k] = v
		}
		out[i] = Entry{ID: e.ID, Text: t}
	}
	return out
}

// IDs returns every prompt id, in catalogue order.
func IDs() []ID {
	out := make([]ID, len(catalogue))
	for i, e := range catalogue {
		out[i] = e.ID
	}
	return out
}

// Voices returns the languages of the catalogue and how each is spoken,
// DefaultLang first.
func Voices() []Voice { return append([]Voice(nil), voices...) }

// Languages returns the catalogue's language codes, DefaultLang first.
func Languages() []string {
	out := make([]string, len(voices))
	for i, v := range voices {
		out[i] = v.Lang
	}
	return out
}

// Text returns what prompt id says in lang, if the catalogue has it.
func Text(lang string, id ID) (string, bool) {
	for _, e := range catalogue {
		if e.ID == id {
			s, ok := e.Text[lang]
			return s, ok
		}
	}
	return "", false
}
