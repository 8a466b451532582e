"""ketch.cli"""
