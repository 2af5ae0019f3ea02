"""The Medlake Function App: one FunctionApp, every blueprint registered."""

import azure.functions as func

from blueprints.ingest import bp as ingest_bp
from blueprints.lake import bp as lake_bp
from blueprints.maintenance import bp as maintenance_bp

app = func.FunctionApp(http_auth_level=func.AuthLevel.FUNCTION)
app.register_functions(ingest_bp)
app.register_functions(maintenance_bp)
app.register_functions(lake_bp)
