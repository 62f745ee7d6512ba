"""The project's pipeline glue: the params.yaml schema and where every artifact lives."""
