"""ketch.api"""
