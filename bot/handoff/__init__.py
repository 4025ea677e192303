"""Handing a conversation to a person at the clinic: the queue staff take
chats from, the calls to Rasa's HTTP API and giving a chat back."""
