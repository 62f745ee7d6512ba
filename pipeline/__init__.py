"""The project's pipeline glue: the params.yaml schema, where every artifact lives, the stage list and deps,
the stages' command line and what the training stages share."""
