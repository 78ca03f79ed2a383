"""The Amazon Selling Partner API connector (see ``sync``)."""
