"""Input channels: the website widget and the messaging apps."""
