package configschema

// Rewrites definitions.agentConfig in the chart's values.schema.json with
// Schema(); the rest of the file is left as written.
//go:generate go run ../cmd/genschema -file ../../helm/agentweave/values.schema.json
