"""Container batch jobs (AWS Batch, fed from SQS). Each imports ``likeness`` and nothing else here."""
