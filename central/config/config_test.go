package config

import (
	"errors"
	"os"
	"testing"
)

func TestExampleParses(t *testing.T) {
	data, err := os.ReadFile("../cmd/kinline-central/example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	c, err := Parse(data)
	if err != nil {
		t.Fatalf("example.yaml: %v", err)
	}
	if !c.MQTT.IsEmbedded() || len(c.Appliances) != 2 || c.Appliances[1].Block != "B" || c.HTTPListen != "127.0.0.1:8080" {
		t.Fatalf("unexpected: %+v", c)
	}
}

func TestInvalid(t *testing.T) {
	for name, doc := range map[string]string{
		"wildcard appliance": "appliances: [{id: 'a/#', block: A, password: longenough}]",
		"short password":     "appliances: [{id: a1, block: A, password: x}]",
		"no block":           "appliances: [{id: a1, password: longenough}]",
		"duplicate":          "appliances: [{id: a1, block: A, password: longenough}, {id: a1, block: B, password: longenough}]",
		"external no url":    "mqtt: {embedded: false}",
		"unknown key":        "colour: blue",
	} {
		if _, err := Parse([]byte(doc)); !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: err = %v, want ErrInvalid", name, err)
		}
	}
}
