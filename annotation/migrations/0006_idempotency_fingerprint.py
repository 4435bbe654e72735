from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("annotation", "0005_study_data_sources"),
    ]

    operations = [
        migrations.AddField(
            model_name="idempotencyrecord",
            name="fingerprint",
            field=models.CharField(blank=True, default="", max_length=64),
        ),
    ]
