"""What the tests share: real servers and clients, generated media, receivers for what servers send."""
