// Package django knows Django projects: it finds manage.py, the settings
// module, the WSGI application and the requirements of an existing project by
// reading its files, without importing or running it. It is the only package
// that knows manage.py; it never writes to the project.
package django
