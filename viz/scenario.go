package viz

import "errors"

// Text is a string in the page's two languages.
type Text struct {
	EN string `json:"en"`
	JA string `json:"ja"`
}

// Scenario is one lesson the page can start with a click: what it shows,
// what to say while it runs, and the curl line that does the same by hand.
type Scenario struct {
	Name      string `json:"name"` // URL-safe id: POST /api/v1/scenarios/{name}
	Title     Text   `json:"title"`
	Narration Text   `json:"narration"`
	Command   string `json:"command"` // equivalent shell command
}

// Scenarios is the set of lessons the API serves. Run starts one in the
// background and returns its run id at once; progress goes to viewers as
// scenario messages (Recorder.Broadcast).
type Scenarios interface {
	List() []Scenario
	Run(name string) (run int64, err error) // ErrUnknownScenario, ErrScenarioBusy
}

// Errors Scenarios.Run returns, mapped by the API to 404 and 409.
var (
	ErrUnknownScenario = errors.New("viz: unknown scenario")
	ErrScenarioBusy    = errors.New("viz: another scenario is running")
)
