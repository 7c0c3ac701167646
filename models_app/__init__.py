"""Reference Django app exercising the ORM features covered in the lecture."""
