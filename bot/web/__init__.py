"""The clinic's demo website with the chat widget, and the widget's files."""
