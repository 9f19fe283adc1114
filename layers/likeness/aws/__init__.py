"""AWS adapters. Each takes an injected boto3 client; none creates one at import."""
